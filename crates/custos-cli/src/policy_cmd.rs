//! `custos policy list`: every control in the bundle with its class, resource types,
//! framework ids and fix, as a table, JSON, or the Markdown table README carries
//! (generated, and a test fails when README differs).

use custos_executor::PlaybookSet;
use custos_policy::{PolicyBundle, RemediationClass};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Markdown,
}

/// One control as `policy list` shows it.
#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub class: RemediationClass,
    pub resource_types: Vec<String>,
    pub fsbp: Vec<String>,
    pub cis: Vec<String>,
    pub nist_800_53: Vec<String>,
    /// The playbook's title, or for alert-only controls the guidance.
    pub fix: String,
    pub playbook: Option<String>,
    /// Candidate playbooks offered beside the baseline (README, "Candidate fixes").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// Where the action's contract test runs (`scripts/test` starts both emulators).
    pub tested_on: String,
}

/// The emulator the tests send a resource type's service to: the moto server for what
/// LocalStack's community edition lacks (CloudTrail, RDS) or emulates too thinly (KMS
/// keys, log group tags, Lambda: its functions end `Failed` without a container runtime),
/// LocalStack for the rest. `custos-testkit`'s `ON_MOTO` routes them;
/// the catalogue test checks the two agree.
pub fn backend(resource_type: &str) -> &'static str {
    const MOTO: [&str; 5] = [
        "AWS::CloudTrail::",
        "AWS::KMS::",
        "AWS::Logs::",
        "AWS::RDS::",
        "AWS::Lambda::",
    ];
    if MOTO.iter().any(|p| resource_type.starts_with(p)) {
        "moto 5.2.5"
    } else {
        "LocalStack 4.13.1"
    }
}

pub fn rows(bundle: &PolicyBundle, playbooks: &PlaybookSet) -> Vec<Row> {
    let ids =
        |c: &custos_policy::ControlMeta, f: &str| c.frameworks.get(f).cloned().unwrap_or_default();
    let mut rows: Vec<Row> = bundle
        .controls()
        .iter()
        .map(|c| {
            let pb = c.remediation.as_deref().and_then(|r| playbooks.get(r));
            Row {
                id: c.id.clone(),
                title: c.title.clone(),
                severity: format!("{:?}", c.severity).to_lowercase(),
                class: c.class,
                resource_types: c.resource_types.clone(),
                fsbp: ids(c, "aws-fsbp"),
                cis: ids(c, "cis-aws-foundations-v3.0"),
                nist_800_53: ids(c, "nist-800-53-r5"),
                fix: match (pb, &c.guidance) {
                    (Some(p), _) => p.title.clone(),
                    (None, Some(g)) => g.clone(),
                    (None, None) => String::new(),
                },
                playbook: pb.map(|p| p.id.clone()),
                candidates: playbooks
                    .for_control(&c.id)
                    .filter(|p| p.candidate)
                    .map(|p| p.id.clone())
                    .collect(),
                tested_on: match c.class {
                    RemediationClass::Alert => "Rego tests; never executes".to_string(),
                    _ => c
                        .resource_types
                        .iter()
                        .map(|t| backend(t))
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// README's control table.
pub fn markdown(rows: &[Row]) -> String {
    let types: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.resource_types.iter().map(String::as_str))
        .collect();
    let mut out = format!(
        "{} controls over {} resource types. Class `auto` fixes within the autonomy level, `human` always waits for approval, `alert` never executes (the compiled floor holds the list) and says what a person does.\n\n| control | resource types | class | FSBP | CIS v3.0 | NIST 800-53 r5 | fix | tested on |\n|---|---|---|---|---|---|---|---|\n",
        rows.len(),
        types.len()
    );
    for r in rows {
        let fix = match r.class {
            RemediationClass::Alert => {
                "none: alert only (commands and Terraform in `custos findings`)".to_string()
            }
            _ if r.candidates.is_empty() => cell(&r.fix),
            _ => format!(
                "{}; candidates: {}",
                cell(&r.fix),
                r.candidates
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push_str(&format!(
            "| `{}` {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.id,
            cell(&r.title),
            r.resource_types
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
            r.class.as_str(),
            list(&r.fsbp),
            list(&r.cis),
            list(&r.nist_800_53),
            fix,
            r.tested_on
        ));
    }
    out
}

pub fn table(rows: &[Row]) -> String {
    let mut t = crate::render::table(&[
        "control",
        "class",
        "severity",
        "resource types",
        "FSBP",
        "CIS v3.0",
        "fix",
    ]);
    for r in rows {
        t.add_row([
            r.id.clone(),
            r.class.as_str().to_string(),
            r.severity.clone(),
            r.resource_types.join(", "),
            list(&r.fsbp),
            list(&r.cis),
            match r.class {
                RemediationClass::Alert => "alert only".to_string(),
                _ => r.fix.clone(),
            },
        ]);
    }
    format!("{t}\n")
}
