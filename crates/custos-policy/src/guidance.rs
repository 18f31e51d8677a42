//! What a person does about a finding of an alert-only control: the control's guidance,
//! its AWS CLI commands and its Terraform, with the finding's values put in. A value is
//! quoted for a POSIX shell when it holds anything beyond a name's usual characters, so
//! that a hostile resource name pasted with a command runs nothing of its own.

use crate::bundle::{ControlMeta, RemediationClass};
use custos_core::ConfigurationItem;
use serde::{Deserialize, Serialize};

/// Guidance for one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guidance {
    pub text: String,
    pub cli: Vec<String>,
    pub terraform: String,
}

/// `value` as one shell word.
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/@+=,-".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

impl ControlMeta {
    /// The guidance of an `alert` control for `ci` (`None` for other classes).
    pub fn guidance_for(&self, ci: &ConfigurationItem) -> Option<Guidance> {
        if self.class != RemediationClass::Alert {
            return None;
        }
        let name = ci.resource_name.as_deref().unwrap_or(&ci.resource_id);
        let values = [
            ("{resource_id}", shell_word(&ci.resource_id)),
            ("{resource_name}", shell_word(name)),
            ("{region}", shell_word(&ci.aws_region)),
            ("{account}", shell_word(&ci.aws_account_id)),
        ];
        // One pass: a value is never scanned again for placeholders.
        let fill = |s: &str| {
            let mut out = String::new();
            let mut rest = s;
            while !rest.is_empty() {
                match values.iter().find(|(k, _)| rest.starts_with(k)) {
                    Some((k, v)) => {
                        out.push_str(v);
                        rest = &rest[k.len()..];
                    }
                    None => {
                        let c = rest.chars().next().unwrap_or_default();
                        out.push(c);
                        rest = &rest[c.len_utf8()..];
                    }
                }
            }
            out
        };
        Some(Guidance {
            text: self.guidance.clone().unwrap_or_default(),
            cli: self.cli.iter().map(|c| fill(c)).collect(),
            terraform: self.terraform.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;
    use crate::bundle::{ControlMeta, RemediationClass};

    #[test]
    fn a_value_is_never_scanned_for_placeholders_again() {
        let meta = ControlMeta {
            id: "x".into(),
            title: "x".into(),
            severity: custos_core::Severity::Low,
            resource_types: vec!["AWS::S3::Bucket".into()],
            frameworks: Default::default(),
            remediation: None,
            class: RemediationClass::Alert,
            guidance: Some("g".into()),
            cli: vec!["aws s3api get-bucket-acl --bucket {resource_id} # {resource_name}".into()],
            terraform: Some("t".into()),
            package: String::new(),
            file: String::new(),
        };
        let ci = custos_core::ConfigurationItem::from_json(&serde_json::json!({
            "configurationItemCaptureTime": "2026-12-04T00:00:00Z",
            "configurationItemStatus": "OK",
            "awsAccountId": "111122223333", "awsRegion": "us-east-1",
            "resourceType": "AWS::S3::Bucket", "resourceId": "a{resource_name}",
            "resourceName": "$(id)",
        }))
        .unwrap();
        let g = meta.guidance_for(&ci).unwrap();
        assert_eq!(
            g.cli,
            vec!["aws s3api get-bucket-acl --bucket 'a{resource_name}' # '$(id)'".to_string()]
        );
    }

    #[test]
    fn values_that_could_run_something_are_quoted() {
        assert_eq!(shell_word("db-1"), "db-1");
        assert_eq!(
            shell_word("arn:aws:acm:us-east-1:1:certificate/x"),
            "arn:aws:acm:us-east-1:1:certificate/x"
        );
        assert_eq!(shell_word("a;rm -rf ~"), "'a;rm -rf ~'");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
