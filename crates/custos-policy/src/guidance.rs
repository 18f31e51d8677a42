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

/// The first `{name}` in `text` (a lowercase name, not after `$` or `%`, which are
/// Terraform's interpolations) that is not one of [`PLACEHOLDERS`]: it would reach the
/// person as it is written, unfilled.
pub(crate) fn unknown_placeholder(text: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        from = open + 1;
        let Some(len) = text[from..].find('}') else {
            break;
        };
        let name = &text[from..from + len];
        let candidate = &text[open..from + len + 1];
        let interpolated = text[..open].ends_with(['$', '%']);
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !interpolated
            && !PLACEHOLDERS.contains(&candidate)
        {
            return Some(candidate);
        }
    }
    None
}

/// The placeholders custos fills, for messages.
pub(crate) fn placeholder_list() -> String {
    PLACEHOLDERS.join(", ")
}

/// The first placeholder that does not stand as a shell word of its own in `cmd`, and
/// where it stands: inside quotes (`'...'`, `"..."`, `$'...'`, backticks: inside `"..."`
/// the shell still expands `$(...)` in a value, and the quoting custos adds would show),
/// right after `$` or `\` (they would turn the quoting custos adds into `$'...'` or an
/// escaped quote), after `=` (the AWS CLI's shorthand syntax splits the value at `,`),
/// in a comment (a newline in the value would end it), or in a command with a heredoc
/// (whose body expands).
pub(crate) fn unsafe_placeholder(cmd: &str) -> Option<(&'static str, &'static str)> {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Word,
        Single,
        Double,
        Ansi,
        Backtick,
        Comment,
    }
    let mut state = In::Word;
    let mut prev: Option<char> = None;
    let mut rest = cmd;
    while let Some(c) = rest.chars().next() {
        if let Some(p) = PLACEHOLDERS.iter().find(|p| rest.starts_with(**p)) {
            let why = match state {
                In::Comment => Some("in a comment"),
                In::Word if matches!(prev, Some('$' | '\\')) => Some("right after `$` or `\\`"),
                In::Word if prev == Some('=') => {
                    Some("after `=` (AWS CLI shorthand: a `,` in the value would add keys)")
                }
                In::Word if cmd.contains("<<") => Some("in a command with a heredoc"),
                In::Word => None,
                _ => Some("inside quotes"),
            };
            if let Some(why) = why {
                return Some((p, why));
            }
        }
        let mut step = c.len_utf8();
        match (state, c) {
            (In::Comment, _) => {}
            (In::Word | In::Double | In::Ansi | In::Backtick, '\\') => {
                if let Some(p) = PLACEHOLDERS.iter().find(|p| rest[1..].starts_with(**p)) {
                    return Some((p, "right after `$` or `\\`"));
                }
                // The escaped character is taken as it is.
                step += rest[1..].chars().next().map_or(0, char::len_utf8);
            }
            (In::Word, '\'') => state = In::Single,
            (In::Word, '"') => state = In::Double,
            (In::Word, '`') => state = In::Backtick,
            (In::Word, '$') if rest[1..].starts_with('\'') => {
                state = In::Ansi;
                step += 1;
            }
            (In::Word, '#') if prev.is_none_or(char::is_whitespace) => state = In::Comment,
            (In::Single | In::Ansi, '\'') | (In::Double, '"') | (In::Backtick, '`') => {
                state = In::Word;
            }
            _ => {}
        }
        prev = rest[..step].chars().last();
        rest = &rest[step..];
    }
    None
}

impl ControlMeta {
    /// The Terraform of a control with a playbook, with `ci`'s values put in: the code
    /// change beside the plan's guided fix (`None` for `alert` controls, whose guidance
    /// carries it, and for a control without one).
    pub fn terraform_for(&self, ci: &ConfigurationItem) -> Option<String> {
        if self.class == RemediationClass::Alert {
            return None;
        }
        let t = self.terraform.as_deref()?;
        Some(fill(t, &values(ci).map(|v| hcl_text(&v))))
    }

    /// The guidance of an `alert` control for `ci` (`None` for other classes).
    pub fn guidance_for(&self, ci: &ConfigurationItem) -> Option<Guidance> {
        if self.class != RemediationClass::Alert {
            return None;
        }
        let raw = values(ci);
        let shell = raw.clone().map(|v| shell_word(&v));
        let hcl = raw.map(|v| hcl_text(&v));
        Some(Guidance {
            text: self.guidance.clone().unwrap_or_default(),
            cli: self.cli.iter().map(|c| fill(c, &shell)).collect(),
            terraform: fill(self.terraform.as_deref().unwrap_or_default(), &hcl),
        })
    }
}

/// The finding's values for [`PLACEHOLDERS`], in their order.
fn values(ci: &ConfigurationItem) -> [String; 4] {
    [
        ci.resource_id.clone(),
        ci.resource_name
            .clone()
            .unwrap_or_else(|| ci.resource_id.clone()),
        ci.aws_region.clone(),
        ci.aws_account_id.clone(),
    ]
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
    use super::{shell_word, unsafe_placeholder};

    #[test]
    fn a_placeholder_custos_does_not_fill_is_found() {
        use super::unknown_placeholder;
        assert_eq!(
            unknown_placeholder("bucket = \"{bucket}\"\nregion = \"{region}\""),
            Some("{bucket}")
        );
        assert_eq!(
            unknown_placeholder("aws s3api x --bucket {resource_id} --region {region}"),
            None
        );
        // Terraform's own interpolations, blocks and JSON are not placeholders.
        assert_eq!(
            unknown_placeholder(
                "resource \"a\" \"b\" {\n  x = \"${var.name}\"\n  y = \"%{if true}1%{endif}\"\n  z = {}\n}"
            ),
            None
        );
        assert_eq!(unknown_placeholder("--cli-input-json '{\"Key\": 1}'"), None);
    }

    #[test]
    fn terraform_values_are_hcl_text() {
        assert_eq!(
            super::hcl_text("a\"b\\c${x}%{y}\n$z"),
            r#"a\"b\\c$${x}%%{y}\n$z"#
        );
    }

    #[test]
    fn a_placeholder_that_is_not_a_word_of_its_own_is_found() {
        let quoted = Some(("{resource_id}", "inside quotes"));
        let after = Some(("{resource_id}", "right after `$` or `\\`"));
        assert_eq!(
            unsafe_placeholder(r#"aws x --d "before {resource_id}""#),
            quoted
        );
        assert_eq!(unsafe_placeholder("aws x --f 'x {resource_id}'"), quoted);
        assert_eq!(unsafe_placeholder("aws x --id $'{resource_id}'"), quoted);
        assert_eq!(unsafe_placeholder("aws x --id `{resource_id}`"), quoted);
        assert_eq!(unsafe_placeholder("aws x --id ${resource_id}"), after);
        assert_eq!(unsafe_placeholder(r"aws x --id \{resource_id}"), after);
        assert_eq!(
            unsafe_placeholder("aws x --r name={resource_name},roleARN=<arn>"),
            Some((
                "{resource_name}",
                "after `=` (AWS CLI shorthand: a `,` in the value would add keys)"
            ))
        );
        assert_eq!(
            unsafe_placeholder("aws x --id a  # for {resource_name}"),
            Some(("{resource_name}", "in a comment"))
        );
        assert_eq!(
            unsafe_placeholder("cat <<EOF > f {resource_id}"),
            Some(("{resource_id}", "in a command with a heredoc"))
        );
        // Words of their own, next to quoted text, after an escaped quote, or before a
        // comment that holds an apostrophe: fine.
        for fine in [
            r#"aws s3 x --bucket {resource_name} --text "a \" b" {region}"#,
            r#"aws x --d "before "{resource_id} --r {region}"#,
            r"aws x --id {resource_id} --n \'{account}",
            "aws x --id {resource_id}  # don't worry",
            "aws x --id a#{resource_id}",
        ] {
            assert_eq!(unsafe_placeholder(fine), None, "{fine}");
        }
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
