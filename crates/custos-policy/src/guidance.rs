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
        let fill = |s: &str| {
            s.replace("{resource_id}", &shell_word(&ci.resource_id))
                .replace("{resource_name}", &shell_word(name))
                .replace("{region}", &shell_word(&ci.aws_region))
                .replace("{account}", &shell_word(&ci.aws_account_id))
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
