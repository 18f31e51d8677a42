//! Seed LocalStack (or whatever `AWS_ENDPOINT_URL` points at) for the demo.
//!
//! custos-seed [PREFIX]         buckets PREFIX-*, a security group open to the world and an
//!                              instance allowing IMDSv1 (old PREFIX-* buckets are removed
//!                              first, so seeding twice gives the same state)
//! custos-seed services PREFIX  one non-compliant resource per logging and encryption
//!                              control: a queue and a topic without encryption, a VPC
//!                              without flow logs, a bucket without access logging, a
//!                              stopped Config recorder (LocalStack); a trail, a key and a
//!                              log group (the moto server, through AWS_ENDPOINT_URL_<SERVICE>)
//! custos-seed exposure PREFIX one resource per exposure and database control: a public
//!                              EBS snapshot, image and SSM document (LocalStack); a public
//!                              RDS instance without deletion protection and a public DB
//!                              snapshot (the moto server)
//! custos-seed watch PREFIX     make PREFIX-public public again and publish the AWS Config
//!                              change event for it to the queue PREFIX-events; prints the
//!                              queue URL

use aws_config::BehaviorVersion;
use custos_testkit::Fixture;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        anyhow::bail!(
            "refusing to seed without AWS_ENDPOINT_URL: point it at LocalStack (http://127.0.0.1:4566)"
        );
    }
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    match args.first().map(String::as_str) {
        Some("many") => {
            // custos-seed many PREFIX N: N buckets, a realistic mix (benchmarks).
            let prefix = args.get(1).cloned().unwrap_or_else(|| "bench".into());
            let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
            let kinds = [
                Fixture::Compliant,
                Fixture::Compliant,
                Fixture::NoPublicAccessBlock,
                Fixture::NoEncryption,
                Fixture::VersioningOff,
            ];
            for (k, kind) in kinds.iter().enumerate() {
                let names: Vec<String> = (0..n)
                    .filter(|i| i % kinds.len() == k)
                    .map(|i| format!("{prefix}-{i:05}"))
                    .collect();
                custos_testkit::make_buckets(&s3, &names, *kind, 16).await?;
            }
            println!("seeded {n} buckets {prefix}-00000..");
        }
        Some("services") => {
            let prefix = args.get(1).cloned().unwrap_or_else(|| "custos-demo".into());
            seed_services(&sdk, &s3, &prefix).await?;
        }
        Some("exposure") => {
            let prefix = args.get(1).cloned().unwrap_or_else(|| "custos-demo".into());
            seed_exposure(&sdk, &prefix).await?;
        }
        Some("watch") => {
            let prefix = args.get(1).cloned().unwrap_or_else(|| "custos-demo".into());
            let bucket = format!("{prefix}-public");
            s3.delete_public_access_block()
                .bucket(&bucket)
                .send()
                .await?;
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let url = custos_testkit::make_queue(&sqs, &format!("{prefix}-events"), 10).await?;
            let account = aws_sdk_sts_account(&sdk).await;
            let now = chrono_now();
            let item =
                custos_testkit::bucket_item(&account, &bucket, Fixture::NoPublicAccessBlock, &now);
            custos_testkit::publish(&sqs, &url, &[custos_testkit::config_change_event(&item)])
                .await?;
            eprintln!("made {bucket} public again and published its Config change event");
            println!("{url}");
        }
        prefix => {
            let prefix = prefix.unwrap_or("custos-demo").to_string();
            let removed = custos_testkit::clear(&s3, &format!("{prefix}-")).await?;
            let made = custos_testkit::seed(&s3, &prefix).await?;
            println!(
                "seeded {} buckets (removed {removed} old ones):",
                made.len()
            );
            for (name, f) in made {
                println!("  {name:<28} {f:?}");
            }
            let ec2 = aws_sdk_ec2::Client::new(&sdk);
            let sg = custos_testkit::make_open_security_group(
                &ec2,
                &format!("{prefix}-ssh-open-{}", std::process::id()),
            )
            .await?;
            println!(
                "  {sg:<28} security group: 22/tcp and 443/tcp open to 0.0.0.0/0, 22/tcp from 10.0.0.0/8"
            );
            let instance = custos_testkit::make_instance(&ec2).await?;
            println!("  {instance:<28} instance: IMDSv1 allowed (HttpTokens optional)");
            println!("  {:<28} EBS encryption by default: off", "account");
        }
    }
    Ok(())
}

/// The moto server's default account: the demo's custos process sends no account header.
const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";

async fn seed_services(
    sdk: &aws_config::SdkConfig,
    s3: &aws_sdk_s3::Client,
    prefix: &str,
) -> anyhow::Result<()> {
    use custos_testkit::services;
    let dev = ("environment", "dev");
    let queue = services::make_unencrypted_queue(sdk, &format!("{prefix}-orders")).await?;
    aws_sdk_sqs::Client::new(sdk)
        .tag_queue()
        .queue_url(&queue)
        .tags(dev.0, dev.1)
        .send()
        .await?;
    println!(
        "  {:<40} queue: no server-side encryption (dev)",
        format!("{prefix}-orders")
    );
    let topic = services::make_unencrypted_topic(sdk, &format!("{prefix}-alerts")).await?;
    services::sns(sdk)
        .tag_resource()
        .resource_arn(&topic)
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key(dev.0)
                .value(dev.1)
                .build()?,
        )
        .send()
        .await?;
    println!(
        "  {:<40} topic: not encrypted (dev)",
        format!("{prefix}-alerts")
    );
    for (name, what) in [
        ("logs", "the log bucket (access logs, flow logs)"),
        ("config", "the Config recorder's delivery bucket"),
        ("app", "no server access logging"),
    ] {
        let bucket = format!("{prefix}-{name}");
        custos_testkit::make_bucket(s3, &bucket, Fixture::Compliant).await?;
        custos_testkit::tag_bucket(s3, &bucket, &[dev]).await?;
        println!("  {bucket:<40} bucket: {what} (dev)");
    }
    let vpc = services::make_vpc(sdk).await?;
    aws_sdk_ec2::Client::new(sdk)
        .create_tags()
        .resources(&vpc)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(dev.0)
                .value(dev.1)
                .build(),
        )
        .send()
        .await?;
    println!("  {vpc:<40} VPC: no flow logs (dev)");
    let recorder =
        services::make_stopped_recorder(sdk, "000000000000", &format!("{prefix}-config")).await?;
    println!("  {recorder:<40} Config recorder: stopped (needs approval: it costs money)");
    let trail = format!("{prefix}-trail");
    services::make_trail(
        sdk,
        MOTO_DEFAULT_ACCOUNT,
        &trail,
        services::TrailFixture::Plain,
    )
    .await?;
    services::cloudtrail(sdk, MOTO_DEFAULT_ACCOUNT)
        .add_tags()
        .resource_id(format!(
            "arn:aws:cloudtrail:us-east-1:{MOTO_DEFAULT_ACCOUNT}:trail/{trail}"
        ))
        .tags_list(
            aws_sdk_cloudtrail::types::Tag::builder()
                .key(dev.0)
                .value(dev.1)
                .build()?,
        )
        .send()
        .await?;
    println!("  {trail:<40} trail: one region, not logging, no log file validation (dev; moto)");
    let key = services::make_key(sdk, MOTO_DEFAULT_ACCOUNT).await?;
    println!("  {key:<40} KMS key: no rotation (moto; KMS always needs approval)");
    let group = format!("/{prefix}/app");
    services::make_short_log_group(sdk, MOTO_DEFAULT_ACCOUNT, &group).await?;
    services::logs(sdk, MOTO_DEFAULT_ACCOUNT)
        .tag_resource()
        .resource_arn(format!(
            "arn:aws:logs:us-east-1:{MOTO_DEFAULT_ACCOUNT}:log-group:{group}"
        ))
        .tags(dev.0, dev.1)
        .send()
        .await?;
    println!("  {group:<40} log group: keeps events 1 day (dev; moto)");
    Ok(())
}

async fn aws_sdk_sts_account(sdk: &aws_config::SdkConfig) -> String {
    // The demo account on LocalStack; the access key decides it.
    let key = sdk
        .credentials_provider()
        .map(|_| std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default())
        .unwrap_or_default();
    if key.len() == 12 && key.chars().all(|c| c.is_ascii_digit()) {
        key
    } else {
        "000000000000".into()
    }
}

fn chrono_now() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    aws_sdk_s3::primitives::DateTime::from_millis(i64::try_from(millis).unwrap_or(0))
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "2026-01-01T00:00:00Z".into())
}

/// Issue 25's auto and human controls, one resource each, as the demo shows them.
async fn seed_exposure(sdk: &aws_config::SdkConfig, prefix: &str) -> anyhow::Result<()> {
    use custos_testkit::exposure;
    let snapshot = exposure::make_public_ebs_snapshot(sdk).await?;
    println!("  {snapshot:<40} EBS snapshot: public (auto)");
    let doc = exposure::make_public_document(sdk, &format!("{prefix}-runbook")).await?;
    println!("  {doc:<40} SSM document: shared with everyone (auto)");
    let image = exposure::make_public_image(sdk, &format!("{prefix}-image")).await?;
    println!("  {image:<40} machine image: public (human: approval)");
    let db = format!("{prefix}-db");
    exposure::make_rds_instance(sdk, MOTO_DEFAULT_ACCOUNT, &db).await?;
    println!(
        "  {db:<40} RDS instance: public, 1-day backups, no deletion protection (human), no minor upgrades, tags not copied (auto; moto)"
    );
    let snap = exposure::make_public_rds_snapshot(sdk, MOTO_DEFAULT_ACCOUNT).await?;
    println!("  {snap:<40} RDS snapshot: public (auto; moto)");
    // The snapshot's own instance goes: moto 5.2.5 gives every instance of an account the
    // same `DbiResourceId`, Config's resource id, so two would be one resource to custos.
    exposure::rds(sdk, MOTO_DEFAULT_ACCOUNT)
        .delete_db_instance()
        .db_instance_identifier(format!("snapdb{MOTO_DEFAULT_ACCOUNT}"))
        .skip_final_snapshot(true)
        .send()
        .await?;
    // In the dev environment, so that the auto fixes run at the demo's level 4 for their
    // classes (unknown environments count as production, which asks first).
    let ec2 = custos_testkit::ec2(sdk);
    ec2.create_tags()
        .resources(&snapshot)
        .resources(&image)
        .tags(dev(aws_sdk_ec2::types::Tag::builder()).build())
        .send()
        .await?;
    exposure::ssm(sdk)
        .add_tags_to_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Document)
        .resource_id(&doc)
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("environment")
                .value("dev")
                .build()?,
        )
        .send()
        .await?;
    let rds = exposure::rds(sdk, MOTO_DEFAULT_ACCOUNT);
    for arn in [
        format!("arn:aws:rds:us-east-1:{MOTO_DEFAULT_ACCOUNT}:db:{db}"),
        format!("arn:aws:rds:us-east-1:{MOTO_DEFAULT_ACCOUNT}:snapshot:{snap}"),
    ] {
        rds.add_tags_to_resource()
            .resource_name(arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("environment")
                    .value("dev")
                    .build(),
            )
            .send()
            .await?;
    }
    println!("  (each tagged environment=dev)");
    Ok(())
}

fn dev(t: aws_sdk_ec2::types::builders::TagBuilder) -> aws_sdk_ec2::types::builders::TagBuilder {
    t.key("environment").value("dev")
}
