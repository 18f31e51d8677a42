#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The shared executor contract, run for every executor against LocalStack:
//! before/after recorded, intent written before the call, idempotent on re-run, stale
//! plans refused, and rollback restores the before state (read back from the cloud).

use async_trait::async_trait;
use custos_core::{ActionOutcome, ConfigurationItem, Digest, ExecutionRecord, ResourceRef};
use custos_executor::contract::{SatisfiedVerifier, Settle, guarded_state};
use custos_executor::{
    Executor, Intent, IntentDecision, Journal, PlaybookSet, Registry, Revert, execute,
};
use custos_telemetry::aws::AwsPool;
use custos_telemetry::record::Recorder;
use custos_telemetry::{Inventory, ResourceReader};
use custos_testkit::{
    Fixture, ec2, exposure, make_bucket, make_instance, make_open_security_group, policies,
    require_localstack, s3, sdk, services, unique_account,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[path = "contract/guided.rs"]
mod guided;

#[derive(Default)]
struct MemJournal {
    log: Mutex<Vec<String>>,
    /// Set: the lease was lost; the fence refuses every call.
    fenced: Mutex<Option<String>>,
}

#[async_trait]
impl Journal for MemJournal {
    async fn intent(&self, i: &Intent) -> Result<IntentDecision, String> {
        self.log
            .lock()
            .unwrap()
            .push(format!("intent {}", i.action_id));
        Ok(IntentDecision::Written)
    }
    async fn may_call(&self) -> Result<(), String> {
        match self.fenced.lock().unwrap().clone() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }
    async fn outcome(&self, r: &ExecutionRecord) -> Result<(), String> {
        self.log
            .lock()
            .unwrap()
            .push(format!("outcome {} {}", r.action_id, r.outcome));
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Subject {
    Bucket(Fixture),
    OpenSecurityGroup,
    EbsDefaultOff,
    Imdsv1Instance,
    UntaggedInstance,
    UnencryptedQueue,
    UnencryptedTopic,
    ShortLogGroup,
    VpcWithoutFlowLogs,
    BucketWithoutLogging,
    StoppedRecorder,
    Trail(services::TrailFixture),
    KeyWithoutRotation,
    RdsInstance,
    PublicRdsSnapshot,
    PublicEbsSnapshot,
    PublicImage,
    PublicDocument,
    DefaultSecurityGroup,
    PublicBucketPolicy,
    PublicQueuePolicy,
    PublicTopicPolicy,
    Certificate,
    AccountBlockOff,
    PublicFunction,
}

struct Case {
    control: &'static str,
    subject: Subject,
    exact_rollback: bool,
    /// The resource has tags a change can be made to behind custos' back (the account
    /// setting has none: its stale case is a plan decided on another state only).
    taggable: bool,
    /// A KMS key is configured (`[controls] kms_key`): queues and topics get SSE-KMS with
    /// it instead of SSE-SQS and `alias/aws/sns`.
    with_key: bool,
    /// A candidate playbook instead of the control's baseline.
    playbook: Option<&'static str>,
}

const CASES: [Case; 53] = [
    Case {
        control: "s3-public-access-block",
        subject: Subject::Bucket(Fixture::NoPublicAccessBlock),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "s3-default-encryption",
        subject: Subject::Bucket(Fixture::NoEncryption),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "s3-versioning",
        subject: Subject::Bucket(Fixture::VersioningOff),
        exact_rollback: false,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-sg-open-ingress",
        subject: Subject::OpenSecurityGroup,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-ebs-default-encryption",
        subject: Subject::EbsDefaultOff,
        exact_rollback: true,
        taggable: false,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-imdsv2",
        subject: Subject::Imdsv1Instance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::UntaggedInstance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "sqs-queue-encryption",
        subject: Subject::UnencryptedQueue,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "sns-topic-encryption",
        subject: Subject::UnencryptedTopic,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "logs-retention",
        subject: Subject::ShortLogGroup,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "vpc-flow-logs",
        subject: Subject::VpcWithoutFlowLogs,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "s3-access-logging",
        subject: Subject::BucketWithoutLogging,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "config-recorder-on",
        subject: Subject::StoppedRecorder,
        exact_rollback: true,
        taggable: false,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "cloudtrail-log-file-validation",
        subject: Subject::Trail(services::TrailFixture::Plain),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "cloudtrail-kms-encryption",
        subject: Subject::Trail(services::TrailFixture::Plain),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "cloudtrail-multi-region",
        subject: Subject::Trail(services::TrailFixture::Plain),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "cloudtrail-logging",
        subject: Subject::Trail(services::TrailFixture::Plain),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "cloudtrail-management-events",
        subject: Subject::Trail(services::TrailFixture::WriteOnly),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "kms-key-rotation",
        subject: Subject::KeyWithoutRotation,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "s3-sse-kms",
        subject: Subject::Bucket(Fixture::Compliant),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "sqs-queue-encryption",
        subject: Subject::UnencryptedQueue,
        exact_rollback: true,
        taggable: true,
        with_key: true,
        playbook: None,
    },
    Case {
        control: "sns-topic-encryption",
        subject: Subject::UnencryptedTopic,
        exact_rollback: true,
        taggable: true,
        with_key: true,
        playbook: None,
    },
    Case {
        control: "rds-instance-public-access",
        subject: Subject::RdsInstance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "rds-backup-retention",
        subject: Subject::RdsInstance,
        exact_rollback: false,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "rds-deletion-protection",
        subject: Subject::RdsInstance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "rds-auto-minor-version-upgrade",
        subject: Subject::RdsInstance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "rds-copy-tags-to-snapshots",
        subject: Subject::RdsInstance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "rds-snapshot-public",
        subject: Subject::PublicRdsSnapshot,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-ebs-snapshot-public",
        subject: Subject::PublicEbsSnapshot,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-ami-public",
        subject: Subject::PublicImage,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ssm-document-public",
        subject: Subject::PublicDocument,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-default-sg-no-inbound",
        subject: Subject::DefaultSecurityGroup,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "ec2-default-sg-no-outbound",
        subject: Subject::DefaultSecurityGroup,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "s3-bucket-policy-public",
        subject: Subject::PublicBucketPolicy,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "sqs-queue-policy-public",
        subject: Subject::PublicQueuePolicy,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "sns-topic-policy-public",
        subject: Subject::PublicTopicPolicy,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::BucketWithoutLogging,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::UnencryptedQueue,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::UnencryptedTopic,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::KeyWithoutRotation,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::ShortLogGroup,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::Trail(services::TrailFixture::Plain),
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::RdsInstance,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::PublicRdsSnapshot,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::PublicEbsSnapshot,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::PublicImage,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::VpcWithoutFlowLogs,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::PublicDocument,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::Certificate,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "s3-account-public-access-block",
        subject: Subject::AccountBlockOff,
        exact_rollback: true,
        taggable: false,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "lambda-function-public-access",
        subject: Subject::PublicFunction,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    Case {
        control: "required-tags",
        subject: Subject::PublicFunction,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: None,
    },
    // The candidate beside `ec2-revoke-open-ingress`: the same ports from the
    // administrative CIDRs (one of them there already, which its rollback must keep).
    Case {
        control: "ec2-sg-open-ingress",
        subject: Subject::OpenSecurityGroup,
        exact_rollback: true,
        taggable: true,
        with_key: false,
        playbook: Some("ec2-narrow-open-ingress"),
    },
];

/// The key the `with_key` cases configure for queues and topics.
const MESSAGING_KEY: &str = "alias/custos-messaging";

/// The configured settings (custos.toml `[controls]`) the fixtures use, per account.
fn settings(account: &str, with_key: bool) -> [(&'static str, &'static str, String); 6] {
    let key = if with_key { MESSAGING_KEY } else { "" };
    [
        (
            "s3-require-sse-kms",
            "kmsKeyId",
            format!("arn:aws:kms:us-east-1:{account}:key/00000000-0000-4000-8000-000000000001"),
        ),
        (
            "cloudtrail-encrypt-logs",
            "kmsKeyId",
            "alias/custos-trail".to_string(),
        ),
        (
            "ec2-enable-vpc-flow-logs",
            "destination",
            format!("arn:aws:s3:::logs-{account}"),
        ),
        (
            "s3-enable-access-logging",
            "targetBucket",
            format!("logs-{account}"),
        ),
        ("sqs-enable-sse", "kmsKeyId", key.to_string()),
        ("sns-enable-sse", "kmsKeyId", key.to_string()),
    ]
}

fn playbooks(catalog: &custos_executor::Catalog, account: &str, with_key: bool) -> PlaybookSet {
    // Required tags need a placeholder to add (custos.toml [controls] required_tags).
    let mut overrides: BTreeMap<String, toml::Table> = BTreeMap::new();
    for (pb, k, v) in settings(account, with_key) {
        if !v.is_empty() {
            overrides
                .entry(pb.to_string())
                .or_default()
                .insert(k.into(), toml::Value::String(v));
        }
    }
    // The candidate's administrative ranges: one new, one the fixture has already.
    let mut narrow = toml::Table::new();
    narrow.insert(
        "adminCidrs".into(),
        toml::Value::Array(vec![
            toml::Value::String("192.0.2.0/24".into()),
            toml::Value::String("10.0.0.0/8".into()),
        ]),
    );
    overrides.insert("ec2-narrow-open-ingress".to_string(), narrow);
    let mut defaults = toml::Table::new();
    defaults.insert("owner".into(), toml::Value::String("unassigned".into()));
    let mut t = toml::Table::new();
    t.insert("defaults".into(), toml::Value::Table(defaults));
    overrides.insert("add-required-tags".to_string(), t);
    PlaybookSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks"),
        catalog,
        &overrides,
    )
    .unwrap()
}

async fn setup(subject: Subject, sdk: &aws_config::SdkConfig, account: &str) -> ResourceRef {
    let r = |t: &str, id: String| ResourceRef {
        account: account.into(),
        region: "us-east-1".into(),
        resource_type: t.into(),
        resource_id: id,
    };
    match subject {
        Subject::Bucket(f) => {
            let name = format!("c{account}-{}", f.suffix());
            make_bucket(&s3(sdk), &name, f).await.unwrap();
            r("AWS::S3::Bucket", name)
        }
        Subject::OpenSecurityGroup => r(
            "AWS::EC2::SecurityGroup",
            make_open_security_group(&ec2(sdk), &format!("sg-{account}"))
                .await
                .unwrap(),
        ),
        Subject::EbsDefaultOff => r("AWS::::Account", account.to_string()),
        Subject::ShortLogGroup => r(
            "AWS::Logs::LogGroup",
            services::make_short_log_group(sdk, account, &format!("/custos/short-{account}"))
                .await
                .unwrap(),
        ),
        Subject::VpcWithoutFlowLogs => {
            s3(sdk)
                .create_bucket()
                .bucket(format!("logs-{account}"))
                .send()
                .await
                .unwrap();
            r("AWS::EC2::VPC", services::make_vpc(sdk).await.unwrap())
        }
        Subject::BucketWithoutLogging => {
            s3(sdk)
                .create_bucket()
                .bucket(format!("logs-{account}"))
                .send()
                .await
                .unwrap();
            let name = format!("c{account}-nolog");
            make_bucket(&s3(sdk), &name, Fixture::Compliant)
                .await
                .unwrap();
            r("AWS::S3::Bucket", name)
        }
        Subject::StoppedRecorder => {
            s3(sdk)
                .create_bucket()
                .bucket(format!("cfg-{account}"))
                .send()
                .await
                .unwrap();
            r(
                "AWS::Config::ConfigurationRecorder",
                services::make_stopped_recorder(sdk, account, &format!("cfg-{account}"))
                    .await
                    .unwrap(),
            )
        }
        Subject::Trail(f) => r(
            "AWS::CloudTrail::Trail",
            services::make_trail(sdk, account, &format!("trail-{account}"), f)
                .await
                .unwrap(),
        ),
        Subject::KeyWithoutRotation => r(
            "AWS::KMS::Key",
            services::make_key(sdk, account).await.unwrap(),
        ),
        Subject::UnencryptedQueue => r(
            "AWS::SQS::Queue",
            services::make_unencrypted_queue(sdk, &format!("q{account}"))
                .await
                .unwrap(),
        ),
        Subject::UnencryptedTopic => r(
            "AWS::SNS::Topic",
            services::make_unencrypted_topic(sdk, &format!("t{account}"))
                .await
                .unwrap(),
        ),
        Subject::Imdsv1Instance | Subject::UntaggedInstance => r(
            "AWS::EC2::Instance",
            make_instance(&ec2(sdk)).await.unwrap(),
        ),
        Subject::RdsInstance => r(
            "AWS::RDS::DBInstance",
            exposure::make_rds_instance(sdk, account, &format!("db{account}"))
                .await
                .unwrap(),
        ),
        Subject::PublicRdsSnapshot => r(
            "AWS::RDS::DBSnapshot",
            exposure::make_public_rds_snapshot(sdk, account)
                .await
                .unwrap(),
        ),
        Subject::PublicEbsSnapshot => r(
            "AWS::EC2::Snapshot",
            exposure::make_public_ebs_snapshot(sdk).await.unwrap(),
        ),
        Subject::PublicImage => r(
            "AWS::EC2::Image",
            exposure::make_public_image(sdk, &format!("ami-{account}"))
                .await
                .unwrap(),
        ),
        Subject::PublicDocument => r(
            "AWS::SSM::Document",
            exposure::make_public_document(sdk, &format!("doc-{account}"))
                .await
                .unwrap(),
        ),
        Subject::DefaultSecurityGroup => r(
            "AWS::EC2::SecurityGroup",
            exposure::make_default_group(sdk).await.unwrap(),
        ),
        Subject::PublicBucketPolicy => r(
            "AWS::S3::Bucket",
            policies::make_public_bucket_policy(sdk, account, &format!("pol-{account}"))
                .await
                .unwrap(),
        ),
        Subject::PublicQueuePolicy => r(
            "AWS::SQS::Queue",
            policies::make_public_queue(sdk, account, &format!("pq{account}"))
                .await
                .unwrap(),
        ),
        Subject::PublicTopicPolicy => r(
            "AWS::SNS::Topic",
            policies::make_public_topic(sdk, &format!("pt{account}"))
                .await
                .unwrap(),
        ),
        // A new account has no account-level block: all four flags read as off.
        Subject::AccountBlockOff => ResourceRef {
            region: "global".into(),
            ..r("AWS::S3::AccountPublicAccessBlock", account.to_string())
        },
        Subject::PublicFunction => r(
            "AWS::Lambda::Function",
            policies::make_public_function(sdk, account, &format!("fn{account}"))
                .await
                .unwrap(),
        ),
        Subject::Certificate => r(
            "AWS::ACM::Certificate",
            exposure::make_certificate(sdk, &format!("c{account}.example.com"))
                .await
                .unwrap(),
        ),
    }
}

/// Change the resource's tags behind custos' back.
async fn retag(subject: Subject, sdk: &aws_config::SdkConfig, r: &ResourceRef) {
    match subject {
        Subject::Bucket(_) => {
            s3(sdk)
                .put_bucket_tagging()
                .bucket(&r.resource_id)
                .tagging(
                    aws_sdk_s3::types::Tagging::builder()
                        .tag_set(
                            aws_sdk_s3::types::Tag::builder()
                                .key("custos:exclude")
                                .value("true")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        Subject::EbsDefaultOff | Subject::AccountBlockOff => {
            panic!("the account setting has no tags")
        }
        Subject::RdsInstance => {
            let arn = format!("arn:aws:rds:us-east-1:{}:db:db{}", r.account, r.account);
            exposure::tag_rds(sdk, &r.account, &arn).await.unwrap();
        }
        Subject::PublicRdsSnapshot => {
            let arn = format!(
                "arn:aws:rds:us-east-1:{}:snapshot:{}",
                r.account, r.resource_id
            );
            exposure::tag_rds(sdk, &r.account, &arn).await.unwrap();
        }
        Subject::PublicDocument => exposure::tag_document(sdk, &r.resource_id).await.unwrap(),
        Subject::PublicFunction => {
            let arn = format!(
                "arn:aws:lambda:us-east-1:{}:function:{}",
                r.account, r.resource_id
            );
            policies::lambda(sdk, &r.account)
                .tag_resource()
                .resource(arn)
                .tags("custos:exclude", "true")
                .send()
                .await
                .unwrap();
        }
        Subject::Certificate => exposure::tag_certificate(sdk, &r.resource_id)
            .await
            .unwrap(),
        Subject::StoppedRecorder => panic!("the recorder has no tags"),
        Subject::Trail(_) | Subject::KeyWithoutRotation => {
            services::tag_on_moto(sdk, &r.account, &r.resource_type, &r.resource_id)
                .await
                .unwrap();
        }
        Subject::ShortLogGroup => {
            services::tag_log_group(sdk, &r.account, &r.resource_id)
                .await
                .unwrap();
        }
        Subject::BucketWithoutLogging | Subject::PublicBucketPolicy => {
            custos_testkit::tag_bucket(&s3(sdk), &r.resource_id, &[("custos:exclude", "true")])
                .await
                .unwrap();
        }
        Subject::UnencryptedQueue
        | Subject::UnencryptedTopic
        | Subject::PublicQueuePolicy
        | Subject::PublicTopicPolicy => {
            services::tag(sdk, &r.resource_type, &r.resource_id)
                .await
                .unwrap();
        }
        _ => {
            ec2(sdk)
                .create_tags()
                .resources(&r.resource_id)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("custos:exclude")
                        .value("true")
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }
}

async fn read(reader: &Inventory, r: &ResourceRef) -> ConfigurationItem {
    reader.read(r).await.unwrap().unwrap()
}

/// The candidate that narrows open ingress: two requests where every other action sends one.
const NARROW: &str = "ec2:RevokeSecurityGroupIngress/narrow";

async fn contract(case: &Case) {
    require_localstack().await;
    let account = unique_account();
    let sdk = sdk(&account);
    let resource = setup(case.subject, &sdk, &account).await;

    // Every request the executor and the reader send, as IAM actions.
    let recorder = Recorder::default();
    let pool = Arc::new(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new())
            .with_interceptor(recorder.clone())
            .with_interceptor(custos_testkit::MotoAccount(account.clone())),
    );
    let registry = Registry::new(custos_executor::all_executors(pool.clone()));
    let playbooks = playbooks(&registry.catalog(), &account, case.with_key);
    let reader = Inventory::new(pool, &[], 2);
    let pb = match case.playbook {
        Some(id) => playbooks.get(id).unwrap(),
        None => playbooks.baseline(case.control).unwrap(),
    };
    let ex: Arc<dyn Executor> = registry.get(&pb.action).unwrap().clone();

    let ops = ex.operations();
    let reads = custos_telemetry::inventory::reads(&resource.resource_type);
    // What one step sent that is not a read: every request must be declared, and the
    // mutating ones are returned for counting.
    let sent = |step: &str, allowed: &[&str]| -> Vec<String> {
        let calls = recorder.take();
        for c in &calls {
            assert!(
                reads.contains(&c.as_str())
                    || ops.read.contains(&c.as_str())
                    || allowed.contains(&c.as_str()),
                "{step}: `{}` sent `{c}`, which neither the action nor the scanner declares (declared: {:?}, reads {reads:?})",
                case.control,
                ops
            );
        }
        calls
            .into_iter()
            .filter(|c| !reads.contains(&c.as_str()) && !ops.read.contains(&c.as_str()))
            .collect()
    };

    let before_ci = read(&reader, &resource).await;
    assert_eq!(sent("read", &[]), Vec::<String>::new());
    // A bucket's tags as S3 holds them before the fix (S3 replaces the whole set).
    let bucket_tags = |name: String| {
        let s3 = s3(&sdk);
        async move {
            let set = s3.get_bucket_tagging().bucket(name).send().await.unwrap();
            set.tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<BTreeMap<String, String>>()
        }
    };
    let tags_case = case.control == "required-tags" && resource.resource_type == "AWS::S3::Bucket";
    let original_tags = if tags_case {
        Some(bucket_tags(resource.resource_id.clone()).await)
    } else {
        None
    };
    // The policy as the emulator holds it before the fix (policy cases).
    let original_policy = match case.subject {
        Subject::PublicBucketPolicy
        | Subject::PublicQueuePolicy
        | Subject::PublicTopicPolicy
        | Subject::PublicFunction => {
            let p = policies::policy(&resource, &sdk).await.unwrap();
            assert!(policies::sids(&p).contains(&"Anyone".to_string()), "{p:#}");
            Some(p)
        }
        _ => None,
    };
    let finding = custos_core::Finding {
        control_id: case.control.into(),
        title: String::new(),
        severity: custos_core::Severity::High,
        resource: before_ci.resource_ref(),
        frameworks: BTreeMap::new(),
        message: String::new(),
        remediation: Some(pb.id.clone()),
        guidance: None,
        terraform: None,
    };
    let dev = custos_core::Environments::default().classify("dev");
    let plan = playbooks
        .plan_with(&registry.catalog(), &pb.id, &finding, &before_ci, &dev)
        .unwrap();
    assert!(
        !ex.satisfied(&plan.before["facet"], &plan.parameters),
        "fixture is already compliant: {:#?}",
        plan.before
    );
    let journal = MemJournal::default();
    let verifier = SatisfiedVerifier(ex.as_ref());
    let run = |id: &'static str, plan: custos_core::RemediationPlan, expected: Digest| {
        let (ex, reader, verifier, journal) = (ex.clone(), &reader, &verifier, &journal);
        async move {
            let now = read(reader, &plan.resource).await;
            execute(
                ex.as_ref(),
                reader,
                verifier,
                journal,
                &plan,
                &now,
                &expected,
                id,
                &Settle::within(0),
            )
            .await
            .unwrap()
        }
    };

    // A plan decided on another state is refused without a call or an intent, whatever
    // the executor.
    let stale = run("a0", plan.clone(), Digest::of_bytes(b"another state")).await;
    assert_eq!(stale.outcome, ActionOutcome::Stale, "{stale:#?}");
    assert!(stale.calls.is_empty());
    assert_eq!(
        sent("stale", &[]),
        Vec::<String>::new(),
        "a stale plan sent a change"
    );
    assert_eq!(
        *journal.log.lock().unwrap(),
        vec!["outcome a0 stale".to_string()]
    );

    // A lease lost between the intent and the call: the fence refuses, nothing is
    // called, the resource is as it was (read back).
    *journal.fenced.lock().unwrap() = Some("the claim was taken over".into());
    let fenced = run("a0f", plan.clone(), plan.before_digest.clone()).await;
    *journal.fenced.lock().unwrap() = None;
    assert_eq!(fenced.outcome, ActionOutcome::Refused, "{fenced:#?}");
    assert!(fenced.calls.is_empty(), "{fenced:#?}");
    assert_eq!(
        sent("fenced", &[]),
        Vec::<String>::new(),
        "a fenced intent sent a change"
    );
    assert_eq!(
        guarded_state(
            ex.as_ref(),
            &read(&reader, &resource).await,
            &plan.parameters
        )["facet"],
        plan.before["facet"],
        "a fenced call changed the resource"
    );
    assert_eq!(
        journal.log.lock().unwrap().split_off(1),
        ["intent a0f".to_string(), "outcome a0f refused".to_string()]
    );

    if pb.action == NARROW {
        // A crash between narrowing's two requests: the administrative entry is there,
        // the open one is not revoked. Reconciling by reading records it failed, with
        // what landed (not `stale`), and calls nothing.
        let admin = aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(
                aws_sdk_ec2::types::IpRange::builder()
                    .cidr_ip("192.0.2.0/24")
                    .build(),
            )
            .build();
        let client = ec2(&sdk);
        client
            .authorize_security_group_ingress()
            .group_id(&resource.resource_id)
            .ip_permissions(admin.clone())
            .send()
            .await
            .unwrap();
        let settled = custos_executor::contract::reconcile(
            ex.as_ref(),
            &reader,
            &verifier,
            &MemJournal::default(),
            &plan,
            "z0",
        )
        .await
        .unwrap();
        assert_eq!(settled.outcome, ActionOutcome::Failed, "{settled:#?}");
        let error = settled.error.clone().unwrap();
        assert!(
            error.contains("between its requests") && error.contains("from 192.0.2.0/24"),
            "{error}"
        );
        assert_eq!(sent("reconcile", &[]), Vec::<String>::new());
        client
            .revoke_security_group_ingress()
            .group_id(&resource.resource_id)
            .ip_permissions(admin)
            .send()
            .await
            .unwrap();
    }

    // First execution: changes the resource, records before and after, intent first.
    let rec = run("a1", plan.clone(), plan.before_digest.clone()).await;
    assert_eq!(rec.outcome, ActionOutcome::Executed, "{rec:#?}");
    // One intent, one mutating request on the wire, of an action the code declares.
    let writes = sent("apply", ops.write);
    if pb.action == NARROW {
        // Narrowing adds the administrative entries, then revokes the open ones: two
        // requests, in that order, so a failure between them leaves access wider for
        // administrators only (and the read-back restores it).
        assert_eq!(
            writes,
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress"
            ]
        );
        assert_eq!(rec.calls, writes);
    } else {
        assert_eq!(
            writes.len(),
            1,
            "one intent must be one request: {writes:?}"
        );
        assert_eq!(rec.calls, vec![pb.action.clone()]);
    }
    assert_eq!(rec.before, plan.before);
    assert_ne!(rec.after.as_ref().unwrap()["facet"], rec.before["facet"]);
    assert_eq!(
        rec.after.as_ref().unwrap()["facet"],
        plan.desired["facet"],
        "the state read back is the planned one"
    );
    assert!(rec.verification.as_ref().unwrap().passed);
    assert!(!rec.rollback.is_empty());
    assert_eq!(
        journal.log.lock().unwrap()[1..],
        ["intent a1".to_string(), "outcome a1 executed".to_string()]
    );

    // The key the operator configured, read back from the emulator (SNS and SQS report
    // what they were given); without one, SSE-SQS and AWS's managed SNS key.
    if matches!(
        case.control,
        "sqs-queue-encryption" | "sns-topic-encryption"
    ) {
        let c = read(&reader, &resource).await.configuration;
        let queue = matches!(case.subject, Subject::UnencryptedQueue);
        match (case.with_key, queue) {
            (true, _) => assert_eq!(c["KmsMasterKeyId"], MESSAGING_KEY, "{c:#}"),
            (false, true) => assert_eq!(c["SqsManagedSseEnabled"], "true", "{c:#}"),
            (false, false) => assert_eq!(c["KmsMasterKeyId"], "alias/aws/sns", "{c:#}"),
        }
    }

    if matches!(
        case.subject,
        Subject::PublicBucketPolicy | Subject::PublicQueuePolicy | Subject::PublicTopicPolicy
    ) {
        // Read straight from the emulator: the statement letting anyone in is gone,
        // every other one is as it was.
        let now = policies::policy(&resource, &sdk).await.unwrap();
        let mut want = original_policy.clone().unwrap();
        want["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != "Anyone");
        assert_eq!(now, want, "only the public statement goes");
        assert!(!policies::sids(&now).is_empty());
    }
    if case.control == "lambda-function-public-access" {
        // Read straight from moto: one intent is one request, so the first permission
        // letting anyone invoke the function is gone; S3's (any account's bucket) waits
        // for a plan of its own, and the account's own is as it was.
        let now = policies::policy(&resource, &sdk).await.unwrap();
        let mut want = original_policy.clone().unwrap();
        want["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != "Anyone");
        assert_eq!(policies::sids(&now), ["Uploads", "Account"], "{now:#}");
        assert_eq!(now, want, "only the first open permission goes");
        // Had the process died before recording this, reconciling by reading finds it
        // applied, though `Uploads` still keeps the control failing.
        let settled = custos_executor::contract::reconcile(
            ex.as_ref(),
            &reader,
            &verifier,
            &MemJournal::default(),
            &plan,
            "z1",
        )
        .await
        .unwrap();
        assert_eq!(settled.outcome, ActionOutcome::Executed, "{settled:#?}");
    }

    if let Some(original) = &original_tags {
        // Read straight from S3: the placeholder was added, every tag kept.
        let mut want = original.clone();
        want.insert("owner".into(), "unassigned".into());
        assert!(!original.is_empty(), "the fixture bucket has tags to keep");
        assert_eq!(bucket_tags(resource.resource_id.clone()).await, want);
    }

    if let Subject::OpenSecurityGroup = case.subject {
        // Only the offending entry went; every other rule is untouched.
        let perms = read(&reader, &resource).await.configuration["ipPermissions"].clone();
        let has = |port: i64, cidr: &str| {
            perms.as_array().unwrap().iter().any(|p| {
                p["fromPort"] == port
                    && p["ipv4Ranges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["cidrIp"] == cidr)
            })
        };
        assert!(!has(22, "0.0.0.0/0"), "{perms:#}");
        assert!(has(22, "10.0.0.0/8"), "{perms:#}");
        assert!(has(443, "0.0.0.0/0"), "{perms:#}");
        // Narrowed: the administrative range the fixture lacked now has the port.
        assert_eq!(has(22, "192.0.2.0/24"), pb.action == NARROW, "{perms:#}");
    }

    // Re-running the same plan changes nothing: a no-op without an intent or a call.
    let again = run("a2", plan.clone(), plan.before_digest.clone()).await;
    assert_eq!(again.outcome, ActionOutcome::NoOp);
    assert_eq!(
        sent("no-op", &[]),
        Vec::<String>::new(),
        "a no-op sent a change"
    );
    assert!(again.calls.is_empty());
    assert_eq!(
        journal.log.lock().unwrap().last().unwrap(),
        "outcome a2 no_op"
    );
    assert!(
        !journal
            .log
            .lock()
            .unwrap()
            .contains(&"intent a2".to_string())
    );

    // Rollback is a plan through the same contract: restore the before state, checked
    // by reading back.
    let revert = Revert {
        inner: ex.clone(),
        target: rec.before["facet"].clone(),
    };
    let now = read(&reader, &resource).await;
    let mut back = plan.clone();
    back.before = guarded_state(&revert, &now, &plan.parameters);
    back.before_digest = custos_core::digest_json(&back.before);
    let expected = rec.after_digest.clone().unwrap();
    assert_eq!(
        back.before_digest, expected,
        "nothing changed since the fix"
    );
    let rb = execute(
        &revert,
        &reader,
        &SatisfiedVerifier(&revert),
        &journal,
        &back,
        &now,
        &expected,
        "r1",
        &Settle::within(0),
    )
    .await
    .unwrap();
    assert_eq!(rb.outcome, ActionOutcome::Executed, "{rb:#?}");
    assert!(
        !sent("rollback", ops.rollback).is_empty(),
        "a rollback that sent nothing"
    );
    let restored = ex.facet_for(&read(&reader, &resource).await, &plan.parameters);
    assert_eq!(rb.after.as_ref().unwrap()["facet"], restored);
    // The record says up front whether the rollback is exact, and the rollback leaves
    // what the action says it leaves.
    assert_eq!(
        rec.rollback.iter().all(|s| s.exact),
        case.exact_rollback,
        "{:?}",
        rec.rollback
    );
    assert_eq!(restored, ex.restored(&rec.before["facet"]));
    if let Some(original) = &original_tags {
        assert_eq!(
            &bucket_tags(resource.resource_id.clone()).await,
            original,
            "the rollback restores the bucket's tags exactly"
        );
    }
    if let Some(original) = &original_policy {
        // The rollback put the document back as it was, read straight from the emulator.
        let back = policies::policy(&resource, &sdk).await.unwrap();
        if let Subject::PublicFunction = case.subject {
            // Permissions added back are listed after those that stayed.
            assert_eq!(
                policies::by_sid(&back),
                policies::by_sid(original),
                "the rollback adds the permissions back exactly"
            );
        } else {
            assert_eq!(&back, original, "the rollback restores the policy exactly");
        }
    }
    if let Subject::OpenSecurityGroup = case.subject {
        // Read straight from the emulator: open again, the range that was there before
        // kept, the one the fix added gone.
        let perms = read(&reader, &resource).await.configuration["ipPermissions"].clone();
        let sources: Vec<String> = perms
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["fromPort"] == 22)
            .flat_map(|p| p["ipv4Ranges"].as_array().unwrap().clone())
            .map(|r| r["cidrIp"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(sources, ["0.0.0.0/0", "10.0.0.0/8"], "{perms:#}");
    }
    if case.exact_rollback {
        assert_eq!(restored, rec.before["facet"]);
    } else if case.control == "s3-versioning" {
        // Versioning cannot go back to never-enabled.
        assert_ne!(restored, rec.before["facet"]);
        assert_eq!(restored["status"], "Suspended");
    }

    // A plan whose resource changed behind custos' back is refused without a call.
    if case.taggable {
        retag(case.subject, &sdk, &resource).await;
        let changed = read(&reader, &resource).await;
        assert!(
            !ex.satisfied(&ex.facet_for(&changed, &plan.parameters), &plan.parameters),
            "the rolled-back resource must be non-compliant again"
        );
        let stale = run("a3", plan.clone(), plan.before_digest.clone()).await;
        assert_eq!(stale.outcome, ActionOutcome::Stale, "{stale:#?}");
        assert!(stale.calls.is_empty());
        assert!(
            !journal
                .log
                .lock()
                .unwrap()
                .contains(&"intent a3".to_string())
        );
    }
}

#[tokio::test]
async fn sqs_queue_encryption_with_a_configured_key_meets_the_contract() {
    contract(&CASES[20]).await;
}

#[tokio::test]
async fn sns_topic_encryption_with_a_configured_key_meets_the_contract() {
    contract(&CASES[21]).await;
}

#[tokio::test]
async fn s3_public_access_block_meets_the_contract() {
    contract(&CASES[0]).await;
}

#[tokio::test]
async fn s3_default_encryption_meets_the_contract() {
    contract(&CASES[1]).await;
}

#[tokio::test]
async fn s3_versioning_meets_the_contract() {
    contract(&CASES[2]).await;
}

#[tokio::test]
async fn ec2_revoke_open_ingress_meets_the_contract() {
    contract(&CASES[3]).await;
}

#[tokio::test]
async fn ec2_ebs_default_encryption_meets_the_contract() {
    contract(&CASES[4]).await;
}

#[tokio::test]
async fn ec2_imdsv2_meets_the_contract() {
    contract(&CASES[5]).await;
}

#[tokio::test]
async fn required_tags_on_an_instance_meets_the_contract() {
    contract(&CASES[6]).await;
}

#[tokio::test]
async fn sqs_queue_encryption_meets_the_contract() {
    contract(&CASES[7]).await;
}

#[tokio::test]
async fn sns_topic_encryption_meets_the_contract() {
    contract(&CASES[8]).await;
}

#[tokio::test]
async fn logs_retention_meets_the_contract() {
    contract(&CASES[9]).await;
}

#[tokio::test]
async fn vpc_flow_logs_meets_the_contract() {
    contract(&CASES[10]).await;
}

#[tokio::test]
async fn s3_access_logging_meets_the_contract() {
    contract(&CASES[11]).await;
}

#[tokio::test]
async fn config_recorder_on_meets_the_contract() {
    contract(&CASES[12]).await;
}

#[tokio::test]
async fn cloudtrail_log_file_validation_meets_the_contract() {
    contract(&CASES[13]).await;
}

#[tokio::test]
async fn cloudtrail_kms_encryption_meets_the_contract() {
    contract(&CASES[14]).await;
}

#[tokio::test]
async fn cloudtrail_multi_region_meets_the_contract() {
    contract(&CASES[15]).await;
}

#[tokio::test]
async fn cloudtrail_logging_meets_the_contract() {
    contract(&CASES[16]).await;
}

#[tokio::test]
async fn cloudtrail_management_events_meets_the_contract() {
    contract(&CASES[17]).await;
}

#[tokio::test]
async fn kms_key_rotation_meets_the_contract() {
    contract(&CASES[18]).await;
}

#[tokio::test]
async fn s3_sse_kms_meets_the_contract() {
    contract(&CASES[19]).await;
}

#[tokio::test]
async fn rds_instance_public_access_meets_the_contract() {
    contract(&CASES[22]).await;
}

#[tokio::test]
async fn rds_backup_retention_meets_the_contract() {
    contract(&CASES[23]).await;
}

#[tokio::test]
async fn rds_deletion_protection_meets_the_contract() {
    contract(&CASES[24]).await;
}

#[tokio::test]
async fn rds_auto_minor_version_upgrade_meets_the_contract() {
    contract(&CASES[25]).await;
}

#[tokio::test]
async fn rds_copy_tags_to_snapshots_meets_the_contract() {
    contract(&CASES[26]).await;
}

#[tokio::test]
async fn rds_snapshot_public_meets_the_contract() {
    contract(&CASES[27]).await;
}

#[tokio::test]
async fn ec2_ebs_snapshot_public_meets_the_contract() {
    contract(&CASES[28]).await;
}

#[tokio::test]
async fn ec2_ami_public_meets_the_contract() {
    contract(&CASES[29]).await;
}

#[tokio::test]
async fn ssm_document_public_meets_the_contract() {
    contract(&CASES[30]).await;
}

#[tokio::test]
async fn ec2_default_sg_no_inbound_meets_the_contract() {
    contract(&CASES[31]).await;
}

#[tokio::test]
async fn ec2_default_sg_no_outbound_meets_the_contract() {
    contract(&CASES[32]).await;
}

#[test]
fn every_registered_executor_has_a_contract_case() {
    let registry = Registry::new(custos_executor::executors_for_tests());
    let playbooks = playbooks(&registry.catalog(), "000000000000", false);
    let covered: Vec<&str> = CASES
        .iter()
        .map(|c| match c.playbook {
            Some(id) => playbooks.get(id).unwrap().action.as_str(),
            None => playbooks.baseline(c.control).unwrap().action.as_str(),
        })
        .collect();
    for action in registry.actions() {
        assert!(
            covered.contains(&action),
            "executor `{action}` has no contract case"
        );
    }
}

#[tokio::test]
async fn s3_bucket_policy_public_meets_the_contract() {
    contract(&CASES[33]).await;
}

#[tokio::test]
async fn sqs_queue_policy_public_meets_the_contract() {
    contract(&CASES[34]).await;
}

#[tokio::test]
async fn sns_topic_policy_public_meets_the_contract() {
    contract(&CASES[35]).await;
}

#[tokio::test]
async fn required_tags_on_s3_meets_the_contract() {
    contract(&CASES[36]).await;
}

#[tokio::test]
async fn required_tags_on_sqs_meets_the_contract() {
    contract(&CASES[37]).await;
}

#[tokio::test]
async fn required_tags_on_sns_meets_the_contract() {
    contract(&CASES[38]).await;
}

#[tokio::test]
async fn required_tags_on_kms_meets_the_contract() {
    contract(&CASES[39]).await;
}

#[tokio::test]
async fn required_tags_on_logs_meets_the_contract() {
    contract(&CASES[40]).await;
}

#[tokio::test]
async fn required_tags_on_cloudtrail_meets_the_contract() {
    contract(&CASES[41]).await;
}

#[tokio::test]
async fn required_tags_on_rds_instance_meets_the_contract() {
    contract(&CASES[42]).await;
}

#[tokio::test]
async fn required_tags_on_rds_snapshot_meets_the_contract() {
    contract(&CASES[43]).await;
}

#[tokio::test]
async fn required_tags_on_ebs_snapshot_meets_the_contract() {
    contract(&CASES[44]).await;
}

#[tokio::test]
async fn required_tags_on_image_meets_the_contract() {
    contract(&CASES[45]).await;
}

#[tokio::test]
async fn required_tags_on_vpc_meets_the_contract() {
    contract(&CASES[46]).await;
}

#[tokio::test]
async fn required_tags_on_ssm_meets_the_contract() {
    contract(&CASES[47]).await;
}

#[tokio::test]
async fn required_tags_on_acm_meets_the_contract() {
    contract(&CASES[48]).await;
}

#[tokio::test]
async fn s3_account_public_access_block_meets_the_contract() {
    contract(&CASES[49]).await;
}

#[tokio::test]
async fn lambda_function_public_access_meets_the_contract() {
    contract(&CASES[50]).await;
}

#[tokio::test]
async fn required_tags_on_lambda_meets_the_contract() {
    contract(&CASES[51]).await;
}

#[tokio::test]
async fn ec2_sg_open_ingress_narrowed_meets_the_contract() {
    contract(&CASES[52]).await;
}
