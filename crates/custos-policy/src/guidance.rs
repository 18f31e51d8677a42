//! What a person does about a finding of an alert-only control: the control's guidance,
//! its AWS CLI commands and its Terraform, with the finding's values put in. A value is
//! quoted for a POSIX shell when it holds anything beyond a name's usual characters, so
//! that a hostile resource name pasted with a command runs nothing of its own.

use crate::bundle::{ControlMeta, RemediationClass};
use custos_core::{ConfigurationItem, Guidance};

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

/// The placeholders custos fills in a command.
const PLACEHOLDERS: [&str; 4] = ["{resource_id}", "{resource_name}", "{region}", "{account}"];

/// The first placeholder that stands inside single or double quotes in `cmd`. Such a
/// value would not be one shell word of its own: inside `"..."` the shell still expands
/// `$(...)` in it, and the quoting custos adds would show as literal quotes.
pub(crate) fn quoted_placeholder(cmd: &str) -> Option<&'static str> {
    let mut quote: Option<char> = None;
    let mut rest = cmd;
    while let Some(c) = rest.chars().next() {
        if quote.is_some()
            && let Some(p) = PLACEHOLDERS.iter().find(|p| rest.starts_with(**p))
        {
            return Some(p);
        }
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
                // An escaped character is not a quote.
                rest = &rest[1..];
                if let Some(n) = rest.chars().next() {
                    rest = &rest[n.len_utf8()..];
                }
                continue;
            }
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    None
}

impl ControlMeta {
    /// The guidance of an `alert` control for `ci` (`None` for other classes).
    pub fn guidance_for(&self, ci: &ConfigurationItem) -> Option<Guidance> {
        if self.class != RemediationClass::Alert {
            return None;
        }
        let name = ci.resource_name.as_deref().unwrap_or(&ci.resource_id);
        let raw = [
            ci.resource_id.as_str(),
            name,
            ci.aws_region.as_str(),
            ci.aws_account_id.as_str(),
        ];
        let shell = raw.map(shell_word);
        let hcl = raw.map(hcl_text);
        Some(Guidance {
            text: self.guidance.clone().unwrap_or_default(),
            cli: self.cli.iter().map(|c| fill(c, &shell)).collect(),
            terraform: fill(self.terraform.as_deref().unwrap_or_default(), &hcl),
        })
    }
}

/// `s` with each placeholder replaced by its value, in one pass: a value is never scanned
/// again for placeholders.
fn fill(s: &str, values: &[String; 4]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match PLACEHOLDERS.iter().position(|k| rest.starts_with(k)) {
            Some(i) => {
                out.push_str(&values[i]);
                rest = &rest[PLACEHOLDERS[i].len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// `value` as the inside of an HCL string: quotes, backslashes and control characters
/// escaped, and `${` / `%{` doubled so that nothing is interpolated.
fn hcl_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{quoted_placeholder, shell_word};

    #[test]
    fn terraform_values_are_hcl_text() {
        assert_eq!(
            super::hcl_text("a\"b\\c${x}%{y}\n$z"),
            r#"a\"b\\c$${x}%%{y}\n$z"#
        );
    }

    #[test]
    fn a_placeholder_inside_quotes_is_found() {
        assert_eq!(
            quoted_placeholder(r#"aws ec2 x --description "before {resource_id}""#),
            Some("{resource_id}")
        );
        assert_eq!(
            quoted_placeholder("aws logs x --filter 'x {region}'"),
            Some("{region}")
        );
        assert_eq!(
            quoted_placeholder(r#"aws s3 x --bucket {resource_name} --text "a \" b" {region}"#),
            None
        );
        // An escaped quote opens nothing.
        assert_eq!(
            quoted_placeholder(r"aws x --id {resource_id} --n \'{account}"),
            None
        );
        assert_eq!(
            quoted_placeholder("aws x --id '{resource_id}' "),
            Some("{resource_id}")
        );
    }
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
