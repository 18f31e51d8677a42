//! Read-only probes for `custos doctor`: who custos is, whether each member role can be
//! assumed, whether the Config recorder records, whether the event queue exists and an
//! EventBridge rule feeds it. Each returns what it found, or an error naming the call.

use crate::aws::{AwsPool, error_message};

/// The IAM actions `custos doctor` needs beyond a scan's, so that it can run as the
/// task's own role: the rule feeding the queue, the role itself, and IAM's simulator.
pub const READS: &[&str] = &[
    "events:DescribeRule",
    "events:ListRuleNamesByTarget",
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
    "sqs:GetQueueAttributes",
    "sts:GetCallerIdentity",
];

/// A probe's error: the IAM action that failed and why.
pub type Probe = Result<String, String>;

fn failed<E, R>(action: &str, e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    format!("{action}: {}", error_message(e))
}

/// The caller in `account` (through its role when one is configured): its ARN, checked
/// to be in that account.
pub async fn identity(pool: &AwsPool, account: &str, region: &str) -> Probe {
    let sdk = pool.sdk(account, region).await;
    let who = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| failed("sts:GetCallerIdentity", &e))?;
    let got = who.account().unwrap_or("?");
    if got != account {
        return Err(format!(
            "the credentials are of account `{got}`, not `{account}`"
        ));
    }
    Ok(who.arn().unwrap_or("?").to_string())
}

/// Is a configuration recorder recording in the region?
pub async fn recorder(pool: &AwsPool, account: &str, region: &str) -> Probe {
    let config = pool.read(account, region).await.config;
    let status = config
        .describe_configuration_recorder_status()
        .send()
        .await
        .map_err(|e| failed("config:DescribeConfigurationRecorderStatus", &e))?;
    let recording: Vec<&str> = status
        .configuration_recorders_status()
        .iter()
        .filter(|s| s.recording())
        .filter_map(|s| s.name())
        .collect();
    match (
        status.configuration_recorders_status().len(),
        recording.first(),
    ) {
        (0, _) => Err("the region has no configuration recorder".into()),
        (_, None) => Err("the configuration recorder is not recording".into()),
        (_, Some(name)) => Ok(format!("recorder `{name}` is recording")),
    }
}

/// The queue's ARN (it exists and custos may read its attributes).
pub async fn queue(pool: &AwsPool, account: &str, region: &str, url: &str) -> Probe {
    let sqs = pool.read(account, region).await.sqs;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed("sqs:GetQueueAttributes", &e))?;
    attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| "sqs:GetQueueAttributes: the answer names no QueueArn".into())
}

/// The EventBridge rules that target the queue with AWS Config's change events.
pub async fn rule_feeds(pool: &AwsPool, account: &str, region: &str, queue_arn: &str) -> Probe {
    let events = aws_sdk_eventbridge::Client::new(&pool.sdk(account, region).await);
    let rules = events
        .list_rule_names_by_target()
        .target_arn(queue_arn)
        .send()
        .await
        .map_err(|e| failed("events:ListRuleNamesByTarget", &e))?;
    let mut feeding = Vec::new();
    for name in rules.rule_names() {
        let rule = events
            .describe_rule()
            .name(name)
            .send()
            .await
            .map_err(|e| failed("events:DescribeRule", &e))?;
        let pattern: serde_json::Value = rule
            .event_pattern()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let has = |key: &str, want: &str| {
            pattern[key]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == want))
        };
        let enabled = rule.state().is_none_or(|s| s.as_str() == "ENABLED");
        if enabled
            && has("source", "aws.config")
            && has("detail-type", "Config Configuration Item Change")
        {
            feeding.push(name.clone());
        }
    }
    if feeding.is_empty() {
        Err(format!(
            "no enabled EventBridge rule sends `aws.config` \"Config Configuration Item Change\" events to `{queue_arn}`"
        ))
    } else {
        Ok(format!("fed by {}", feeding.join(", ")))
    }
}

/// The IAM principal behind a caller ARN: an assumed role's role (read with
/// `iam:GetRole`, its path included), a user as it is; `None` for the root user (IAM
/// cannot simulate it: it may do everything).
pub async fn principal(
    pool: &AwsPool,
    account: &str,
    region: &str,
    caller: &str,
) -> Result<Option<String>, String> {
    if caller.ends_with(":root") {
        return Ok(None);
    }
    let Some(rest) = caller.split(":assumed-role/").nth(1) else {
        return Ok(Some(caller.to_string()));
    };
    let role = rest.split('/').next().unwrap_or(rest);
    let iam = aws_sdk_iam::Client::new(&pool.sdk(account, region).await);
    let got = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(|e| failed("iam:GetRole", &e))?;
    Ok(got.role().map(|r| r.arn().to_string()))
}

/// IAM's policy simulator: which of `actions` the principal's policies do not allow on
/// any resource of `account` (`aws:ResourceAccount` and `aws:PrincipalAccount` set to it).
pub async fn simulate(
    pool: &AwsPool,
    account: &str,
    region: &str,
    principal: &str,
    actions: &[String],
) -> Probe {
    let iam = aws_sdk_iam::Client::new(&pool.sdk(account, region).await);
    let context = |key: &str| {
        aws_sdk_iam::types::ContextEntry::builder()
            .context_key_name(key)
            .context_key_type(aws_sdk_iam::types::ContextKeyTypeEnum::String)
            .context_key_values(account)
            .build()
    };
    let mut denied = Vec::new();
    for chunk in actions.chunks(50) {
        let mut marker = None;
        loop {
            let page = iam
                .simulate_principal_policy()
                .policy_source_arn(principal)
                .set_action_names(Some(chunk.to_vec()))
                .resource_arns("*")
                .context_entries(context("aws:ResourceAccount"))
                .context_entries(context("aws:PrincipalAccount"))
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| failed("iam:SimulatePrincipalPolicy", &e))?;
            for r in page.evaluation_results() {
                if r.eval_decision().as_str() != "allowed" {
                    denied.push(r.eval_action_name().to_string());
                }
            }
            marker = page.marker().map(str::to_string);
            if !page.is_truncated() || marker.is_none() {
                break;
            }
        }
    }
    denied.sort();
    denied.dedup();
    if denied.is_empty() {
        Ok(format!(
            "{} actions allowed to `{principal}`",
            actions.len()
        ))
    } else {
        Err(format!(
            "{} of {} actions not allowed to `{principal}`: {}",
            denied.len(),
            actions.len(),
            denied.join(", ")
        ))
    }
}
