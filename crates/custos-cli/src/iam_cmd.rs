//! `custos iam-policy`: the least-privilege IAM policy custos needs, built from what the
//! code declares: each scanner's reads (`custos_telemetry::inventory::reads`), each
//! action's reads, writes and rollback-only calls (`Action::operations`), the event
//! queue's and AWS Config's reads. The contract tests record every request the SDK
//! sends and fail on one not declared, so the policy cannot drift from the code.
//!
//! `detect` grants reads only (adoption phase 1); `remediate` adds the writes of the
//! playbooks the bundle uses, pinned to the principal's own account and refused on
//! resources carrying the exclusion tag where the service evaluates resource tags.

use crate::build;
use crate::cli::{EXIT_INVALID, Failure};
use custos_engine::Config;
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Reads only: scans, Config, the event queue. No action that changes a resource.
    Detect,
    /// Reads, and the writes and rollbacks of every playbook in the bundle.
    Remediate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyFormat {
    /// An IAM policy document (JSON).
    Json,
    /// A Terraform `aws_iam_policy_document` data source (the modules check these in).
    Terraform,
}

/// Account-level writes: they name no resource, so no resource condition applies
/// (Service Authorization Reference: no resource type for these actions).
const ACCOUNT_LEVEL: [&str; 7] = [
    "ec2:EnableEbsEncryptionByDefault",
    "ec2:DisableEbsEncryptionByDefault",
    "ec2:ModifyEbsDefaultKmsKeyId",
    "ec2:ResetEbsDefaultKmsKeyId",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "s3:PutAccountPublicAccessBlock",
];

/// What the event queue's consumer calls (`custos_telemetry::sqs`).
const QUEUE: [&str; 2] = ["sqs:DeleteMessage", "sqs:ReceiveMessage"];
/// What the checkpoint witness in S3 calls (`custos_evidence::witness`).
const WITNESS: [&str; 3] = ["s3:GetObject", "s3:ListBucket", "s3:PutObject"];
/// What custos's own KMS key must allow it: receiving from an encrypted queue and
/// writing to an encrypted witness bucket (dependent permissions of the calls above).
const OWN_KEY: [&str; 2] = ["kms:Decrypt", "kms:GenerateDataKey"];

/// Where the optional statements point: ARNs from the configuration (JSON), or the
/// Terraform variables a module passes (Terraform).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub queue: Vec<String>,
    pub member_roles: Vec<String>,
    /// The witness bucket, and its objects.
    pub witness: Vec<String>,
    /// The KMS key of custos's own queue and witness.
    pub own_key: Vec<String>,
}

/// One statement of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: &'static str,
    pub deny: bool,
    pub actions: Vec<String>,
    /// `None`: `*`. `Some(var)`: the Terraform variable (a list) in Terraform, the
    /// configured ARNs in JSON.
    pub resources: Resources,
    /// `(test, key, values)`.
    pub conditions: Vec<(&'static str, String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resources {
    Any,
    /// ARNs from the configuration, and the Terraform variable that holds them.
    Named(Vec<String>, &'static str),
}

/// What the policy is built from.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub mode: Mode,
    /// Resource types the scans read.
    pub types: BTreeSet<String>,
    /// The action ids of the playbooks in use.
    pub actions: BTreeSet<String>,
    pub exclusion_tag: String,
    pub targets: Targets,
    /// `[telemetry] config_aggregator` is set: its reads are granted too.
    pub aggregator: bool,
}

/// The statements, in a fixed order, each action list sorted.
pub fn statements(inputs: &Inputs) -> Result<Vec<Statement>, String> {
    let catalog = custos_executor::offline_catalog();
    let mut reads: BTreeSet<String> = inputs
        .types
        .iter()
        .flat_map(|t| custos_telemetry::inventory::reads(t).iter())
        .chain(custos_telemetry::config_api::READS)
        .chain(custos_telemetry::preflight::READS)
        .chain(if inputs.aggregator {
            custos_telemetry::config_api::AGGREGATE_READS
        } else {
            &[]
        })
        .map(|a| a.to_string())
        .collect();
    let (mut writes, mut rollback) = (BTreeSet::new(), BTreeSet::new());
    for id in &inputs.actions {
        let action = catalog
            .get(id)
            .ok_or_else(|| format!("no action `{id}` in this build"))?;
        let ops = action.operations();
        reads.extend(ops.read.iter().map(|a| a.to_string()));
        writes.extend(ops.write.iter().chain(ops.needs).map(|a| a.to_string()));
        rollback.extend(ops.rollback.iter().map(|a| a.to_string()));
    }
    let rollback: BTreeSet<String> = rollback.difference(&writes).cloned().collect();
    let mut out = vec![Statement {
        sid: "CustosRead",
        deny: false,
        actions: reads.into_iter().collect(),
        resources: Resources::Any,
        conditions: vec![],
    }];
    let optional = [
        (
            "CustosEvents",
            &QUEUE[..],
            &inputs.targets.queue,
            "events_queue_arns",
        ),
        (
            "CustosWitness",
            &WITNESS[..],
            &inputs.targets.witness,
            "witness_bucket_arns",
        ),
        (
            "CustosOwnKey",
            &OWN_KEY[..],
            &inputs.targets.own_key,
            "custos_key_arns",
        ),
        (
            "CustosMemberAccounts",
            &["sts:AssumeRole"][..],
            &inputs.targets.member_roles,
            "member_role_arns",
        ),
    ];
    for (sid, actions, arns, var) in optional {
        out.push(Statement {
            sid,
            deny: false,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources: Resources::Named(arns.clone(), var),
            conditions: vec![],
        });
    }
    if inputs.mode == Mode::Detect {
        return Ok(out);
    }
    let own_account = || {
        vec![(
            "StringEquals",
            "aws:ResourceAccount".to_string(),
            vec!["${aws:PrincipalAccount}".to_string()],
        )]
    };
    let split = |set: &BTreeSet<String>| -> (Vec<String>, Vec<String>) {
        set.iter()
            .cloned()
            .partition(|a| !ACCOUNT_LEVEL.contains(&a.as_str()))
    };
    let (on_resources, account_level) = split(&writes);
    let (rollback_on_resources, rollback_account_level) = split(&rollback);
    for (sid, actions, conditions) in [
        ("CustosRemediate", on_resources, own_account()),
        ("CustosRollback", rollback_on_resources, own_account()),
        (
            "CustosRemediateAccountSettings",
            account_level
                .into_iter()
                .chain(rollback_account_level)
                .collect(),
            vec![],
        ),
    ] {
        if !actions.is_empty() {
            out.push(Statement {
                sid,
                deny: false,
                actions,
                resources: Resources::Any,
                conditions,
            });
        }
    }
    // The exclusion tag refused by IAM itself, where the service evaluates resource tags
    // for the action (a condition on a key the request lacks does not match, so elsewhere
    // this denies nothing and the guard's own check is what holds).
    let all_writes: BTreeSet<String> = writes.iter().chain(rollback.iter()).cloned().collect();
    if !all_writes.is_empty() {
        out.push(Statement {
            sid: "CustosNeverChangesExcluded",
            deny: true,
            actions: all_writes.into_iter().collect(),
            resources: Resources::Any,
            conditions: vec![(
                "StringEqualsIgnoreCase",
                format!("aws:ResourceTag/{}", inputs.exclusion_tag),
                vec!["true".to_string()],
            )],
        });
    }
    Ok(out)
}

/// The IAM policy document (JSON). Optional statements whose ARNs are not configured
/// are left out.
pub fn json(statements: &[Statement]) -> Value {
    let docs: Vec<Value> = statements
        .iter()
        .filter_map(|s| {
            let resource = match &s.resources {
                Resources::Any => json!("*"),
                Resources::Named(arns, _) if arns.is_empty() => return None,
                Resources::Named(arns, _) => json!(arns),
            };
            let mut v = json!({
                "Sid": s.sid,
                "Effect": if s.deny { "Deny" } else { "Allow" },
                "Action": s.actions,
                "Resource": resource,
            });
            if !s.conditions.is_empty() {
                let mut c = serde_json::Map::new();
                for (test, key, values) in &s.conditions {
                    c.insert(test.to_string(), json!({ key: values }));
                }
                v["Condition"] = Value::Object(c);
            }
            Some(v)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": docs})
}

fn hcl_list(items: &[String], indent: &str) -> String {
    let mut s = String::from("[\n");
    for i in items {
        // `${` starts an interpolation in HCL: an IAM policy variable is written `$${`.
        s.push_str(&format!(
            "{indent}  \"{}\",\n",
            i.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace("${", "$${")
        ));
    }
    s.push_str(indent);
    s.push(']');
    s
}

/// A Terraform `aws_iam_policy_document` data source named `custos_<mode>`; optional
/// statements are `dynamic` over the list variable that holds their ARNs.
pub fn terraform(statements: &[Statement], mode: Mode, command: &str) -> String {
    let name = match mode {
        Mode::Detect => "custos_detect",
        Mode::Remediate => "custos_remediate",
    };
    let mut s = format!(
        "# Generated by `{command}`: do not edit by hand (a test compares\n# this file with the command's output). Actions come from what custos's scanners and actions declare.\ndata \"aws_iam_policy_document\" \"{name}\" {{\n  #checkov:skip=CKV_AWS_356:Describe and List reads name no resource; writes are pinned to the principal's account by aws:ResourceAccount and denied on excluded resources\n"
    );
    for st in statements {
        let (open, ind, resources) = match &st.resources {
            Resources::Any => ("  statement {\n".to_string(), "    ", "[\"*\"]".to_string()),
            Resources::Named(_, var) => (
                format!(
                    "  dynamic \"statement\" {{\n    for_each = length(var.{var}) > 0 ? [1] : []\n    content {{\n"
                ),
                "      ",
                format!("var.{var}"),
            ),
        };
        s.push_str(&open);
        s.push_str(&format!("{ind}sid       = \"{}\"\n", st.sid));
        s.push_str(&format!(
            "{ind}effect    = \"{}\"\n",
            if st.deny { "Deny" } else { "Allow" }
        ));
        s.push_str(&format!(
            "{ind}actions   = {}\n",
            hcl_list(&st.actions, ind)
        ));
        s.push_str(&format!("{ind}resources = {resources}\n"));
        for (test, key, values) in &st.conditions {
            s.push_str(&format!(
                "{ind}condition {{\n{ind}  test     = \"{test}\"\n{ind}  variable = \"{key}\"\n{ind}  values   = {}\n{ind}}}\n",
                hcl_list(values, &format!("{ind}  "))
            ));
        }
        if matches!(st.resources, Resources::Named(..)) {
            s.push_str("    }\n");
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

/// `arn:aws:sqs:REGION:ACCOUNT:NAME` for a queue URL
/// (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or an emulator's
/// `http://host:port/ACCOUNT/NAME` with the configured region).
pub fn queue_arn(url: &str, region: Option<&str>) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let mut parts = rest.split('/');
    let host = parts.next()?;
    let account = parts.next()?;
    let name = parts.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    let region = host
        .strip_prefix("sqs.")
        .and_then(|h| h.split('.').next())
        .or(region)?;
    Some(format!("arn:aws:sqs:{region}:{account}:{name}"))
}

/// The inputs from the configuration, narrowed to `classes` when given.
pub fn inputs(
    config: &Config,
    mode: Mode,
    classes: &[String],
    format: PolicyFormat,
) -> Result<Inputs, Failure> {
    let bundle = build::load_policy(config)?;
    let catalog = custos_executor::offline_catalog();
    let playbooks = build::load_playbooks(config, &bundle, &catalog)?;
    let known: BTreeSet<String> = build::bundle_types(&bundle)
        .iter()
        .map(|t| custos_core::resource_class(t))
        .collect();
    let unknown: Vec<&String> = classes.iter().filter(|c| !known.contains(*c)).collect();
    if !unknown.is_empty() {
        return Err(Failure::msg(
            EXIT_INVALID,
            format!(
                "--classes: {} not a class of the policy bundle (known: {})",
                unknown
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let wanted = |t: &str| classes.is_empty() || classes.contains(&custos_core::resource_class(t));
    let types = build::bundle_types(&bundle)
        .into_iter()
        .filter(|t| wanted(t))
        .collect();
    // A playbook that is not offered (a candidate whose values are not configured) is
    // never called: its writes are not granted until it is.
    let actions = playbooks
        .iter()
        .filter(|p| p.resource_types.iter().any(|t| wanted(t)))
        .filter(|p| playbooks.offered(&catalog, &p.id).is_ok())
        .map(|p| p.action.clone())
        .collect();
    let targets = match format {
        // The module passes its own ARNs; the file must not depend on a local config.
        PolicyFormat::Terraform => Targets::default(),
        PolicyFormat::Json => Targets {
            queue: config
                .queue_url
                .as_deref()
                .and_then(|u| queue_arn(u, config.region.as_deref()))
                .into_iter()
                .collect(),
            member_roles: config
                .targets
                .iter()
                .filter_map(|t| t.role_arn.clone())
                .collect(),
            witness: config
                .evidence
                .witness_s3
                .iter()
                .flat_map(|(bucket, _)| {
                    [
                        format!("arn:aws:s3:::{bucket}"),
                        format!("arn:aws:s3:::{bucket}/*"),
                    ]
                })
                .collect(),
            // The key is the deployment's (Terraform passes it); a configuration does
            // not name it.
            own_key: vec![],
        },
    };
    Ok(Inputs {
        mode,
        types,
        actions,
        exclusion_tag: config.gate.exclusion_tag.clone(),
        targets,
        aggregator: config.config_aggregator.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mode: Mode) -> Inputs {
        let catalog = custos_executor::offline_catalog();
        Inputs {
            mode,
            types: custos_telemetry::inventory::resource_types()
                .into_iter()
                .map(str::to_string)
                .collect(),
            actions: catalog.actions().map(str::to_string).collect(),
            exclusion_tag: "custos:exclude".into(),
            aggregator: false,
            targets: Targets {
                queue: vec!["arn:aws:sqs:us-east-1:111122223333:custos-events".into()],
                member_roles: vec![],
                witness: vec![],
                own_key: vec![],
            },
        }
    }

    fn actions(doc: &Value) -> BTreeSet<String> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| s["Action"].as_array().unwrap().clone())
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    /// Read-level actions by their verb: what detect may hold (`iam:SimulatePrincipalPolicy`
    /// is of access level Read in the Service Authorization Reference).
    fn is_read(a: &str) -> bool {
        let verb = a.split(':').nth(1).unwrap();
        [
            "Describe", "Get", "List", "Head", "BatchGet", "Select", "Simulate",
        ]
        .iter()
        .any(|p| verb.starts_with(p))
    }

    #[test]
    fn detect_holds_no_write_and_remediate_every_declared_one() {
        let detect = json(&statements(&all(Mode::Detect)).unwrap());
        let remediate = json(&statements(&all(Mode::Remediate)).unwrap());
        let d = actions(&detect);
        // Only reads, and consuming custos's own event queue (scoped to its ARN).
        let writes: Vec<&String> = d
            .iter()
            .filter(|a| !is_read(a) && !QUEUE.contains(&a.as_str()))
            .collect();
        assert_eq!(writes, Vec::<&String>::new());
        let catalog = custos_executor::offline_catalog();
        let declared: BTreeSet<String> = catalog
            .actions()
            .flat_map(|id| catalog.get(id).unwrap().operations().all())
            .map(str::to_string)
            .collect();
        let r = actions(&remediate);
        let missing: Vec<&String> = declared.difference(&r).collect();
        assert_eq!(missing, Vec::<&String>::new());
        assert!(r.contains("s3:PutBucketPublicAccessBlock"), "{r:?}");
        assert!(
            !r.contains("s3:PutPublicAccessBlock"),
            "API names are not IAM actions"
        );
    }

    #[test]
    fn writes_are_pinned_to_the_own_account_and_excluded_resources_denied() {
        let doc = json(&statements(&all(Mode::Remediate)).unwrap());
        let by_sid = |sid: &str| {
            doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            by_sid("CustosRemediate")["Condition"]["StringEquals"]["aws:ResourceAccount"],
            json!(["${aws:PrincipalAccount}"])
        );
        let deny = by_sid("CustosNeverChangesExcluded");
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(
            deny["Condition"]["StringEqualsIgnoreCase"]["aws:ResourceTag/custos:exclude"],
            json!(["true"])
        );
        let account = by_sid("CustosRemediateAccountSettings");
        assert_eq!(account.get("Condition"), None);
        assert!(
            account["Action"]
                .as_array()
                .unwrap()
                .contains(&json!("ec2:EnableEbsEncryptionByDefault"))
        );
        // Statements without configured ARNs are left out, not widened to `*`.
        assert!(
            doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["Sid"] != "CustosMemberAccounts")
        );
        assert_eq!(
            by_sid("CustosEvents")["Resource"],
            json!(["arn:aws:sqs:us-east-1:111122223333:custos-events"])
        );
    }

    #[test]
    fn terraform_escapes_policy_variables_and_names_its_variables() {
        let st = statements(&all(Mode::Remediate)).unwrap();
        let tf = terraform(&st, Mode::Remediate, "custos iam-policy");
        assert!(tf.contains("data \"aws_iam_policy_document\" \"custos_remediate\""));
        assert!(tf.contains("\"$${aws:PrincipalAccount}\""), "{tf}");
        assert!(tf.contains("for_each = length(var.member_role_arns) > 0 ? [1] : []"));
        assert_eq!(tf.matches("sid       =").count(), st.len());
    }

    #[test]
    fn queue_urls_become_arns() {
        assert_eq!(
            queue_arn(
                "https://sqs.eu-west-1.amazonaws.com/111122223333/custos",
                None
            ),
            Some("arn:aws:sqs:eu-west-1:111122223333:custos".into())
        );
        assert_eq!(
            queue_arn("http://127.0.0.1:4566/000000000000/q", Some("us-east-1")),
            Some("arn:aws:sqs:us-east-1:000000000000:q".into())
        );
        assert_eq!(queue_arn("not a url", Some("us-east-1")), None);
    }
}
