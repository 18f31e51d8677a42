//! IAM action names for the requests the SDK sends, and an interceptor that records them.
//!
//! An SDK operation carries its model's name (`PutPublicAccessBlock`) and service
//! (`S3`); the permission a principal needs is an IAM action, and for several services
//! the two differ (the Service Authorization Reference lists them: S3's
//! `PutPublicAccessBlock` is `s3:PutBucketPublicAccessBlock`). [`iam_action`] maps one
//! to the other; [`Recorder`] records the IAM action of every request put on the wire
//! (each attempt, so a retry is a second request), which the contract tests compare
//! with what each action and scanner declares.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// The IAM service prefix of an SDK service name.
fn prefix(service: &str) -> String {
    match service {
        "CloudWatch Logs" => "logs".into(),
        "Config Service" => "config".into(),
        other => other.to_ascii_lowercase().replace(' ', ""),
    }
}

/// S3 operations whose IAM action has another name (Service Authorization Reference,
/// "Actions defined by Amazon S3").
const S3_RENAMED: [(&str, &str); 12] = [
    ("HeadBucket", "ListBucket"),
    ("ListObjectsV2", "ListBucket"),
    ("ListBuckets", "ListAllMyBuckets"),
    ("HeadObject", "GetObject"),
    ("GetBucketEncryption", "GetEncryptionConfiguration"),
    ("PutBucketEncryption", "PutEncryptionConfiguration"),
    ("DeleteBucketEncryption", "PutEncryptionConfiguration"),
    ("GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
    ("PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("DeleteBucketTagging", "PutBucketTagging"),
    ("DeleteBucketPolicy", "DeleteBucketPolicy"),
];

/// The IAM action a request of `operation` on `service` needs, e.g.
/// `iam_action("S3", "PutPublicAccessBlock") == "s3:PutBucketPublicAccessBlock"`.
pub fn iam_action(service: &str, operation: &str) -> String {
    // S3 Control's account-level public access block is an `s3` action of the account.
    if service == "S3 Control" {
        let op = match operation {
            "GetPublicAccessBlock" => "GetAccountPublicAccessBlock",
            "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutAccountPublicAccessBlock",
            other => other,
        };
        return format!("s3:{op}");
    }
    let p = prefix(service);
    let op = if p == "s3" {
        S3_RENAMED
            .iter()
            .find(|(o, _)| *o == operation)
            .map_or(operation, |(_, a)| a)
    } else {
        operation
    };
    format!("{p}:{op}")
}

/// Records the IAM action of every request the SDK sends (read before transmit: once
/// per attempt). Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// Every request recorded so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Take the record, leaving it empty.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "custos.recorder"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let action = match cfg.load::<Metadata>() {
            Some(m) => iam_action(m.service(), m.name()),
            None => "unknown:Unnamed".to_string(),
        };
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(action);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::iam_action;

    #[test]
    fn operations_map_to_the_iam_actions_the_reference_names() {
        assert_eq!(
            iam_action("S3", "PutPublicAccessBlock"),
            "s3:PutBucketPublicAccessBlock"
        );
        assert_eq!(
            iam_action("S3", "GetBucketEncryption"),
            "s3:GetEncryptionConfiguration"
        );
        assert_eq!(iam_action("S3", "GetBucketLogging"), "s3:GetBucketLogging");
        assert_eq!(
            iam_action("CloudWatch Logs", "PutRetentionPolicy"),
            "logs:PutRetentionPolicy"
        );
        assert_eq!(
            iam_action("Config Service", "StartConfigurationRecorder"),
            "config:StartConfigurationRecorder"
        );
        assert_eq!(
            iam_action("CloudTrail", "UpdateTrail"),
            "cloudtrail:UpdateTrail"
        );
        assert_eq!(iam_action("EC2", "CreateFlowLogs"), "ec2:CreateFlowLogs");
    }
}
