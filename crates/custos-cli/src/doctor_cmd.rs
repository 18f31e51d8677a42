//! `custos doctor`: preflight of a deployment, one line per check with what it found or
//! what to do. Nothing is changed in the account; the ledger gets one `doctor.checked`
//! event (the proof that it is writable).

use crate::build;
use crate::cli::{EXIT_FINDINGS, EXIT_OK, Failure, Output};
use crate::iam_cmd::{Mode, PolicyFormat, Resources};
use custos_core::AutonomyLevel;
use custos_engine::Config;
use custos_engine::config::{ReasonerChoice, ScanFrom, Task};
use custos_telemetry::aws::AwsPool;
use custos_telemetry::inventory::Types;
use custos_telemetry::{Inventory, Source, preflight};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable to this configuration (said why).
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do when it failed.
    pub fix: Option<String>,
}

#[derive(Debug, Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn pass(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Check {
            check: check.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        });
    }
    fn fail(
        &mut self,
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(Check {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        });
    }
    fn skip(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Check {
            check: check.into(),
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        });
    }
    fn probe(&mut self, check: String, r: preflight::Probe, fix: impl Into<String>) -> bool {
        match r {
            Ok(found) => {
                self.pass(check, found);
                true
            }
            Err(e) => {
                self.fail(check, e, fix);
                false
            }
        }
    }
}

/// Errors and rejections are long; a check line keeps their first part.
fn short(s: &str) -> String {
    let s = s.replace('\n', " ");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

async fn ledger(config: &Config, checks: &mut Checks) {
    let fix = "check `[database] url` (or --database-url): the file's directory or the server must accept writes by this user";
    match custos_ledger::Ledger::open(&config.database_url).await {
        Err(e) => checks.fail("ledger", short(&format!("cannot open: {e}")), fix),
        Ok(l) => {
            let payload = serde_json::json!({"by": "custos doctor"});
            match l.append(None, "doctor.checked", None, &payload).await {
                Ok(e) => checks.pass("ledger", format!("migrated and writable (event {})", e.id)),
                Err(e) => checks.fail("ledger", short(&format!("not writable: {e}")), fix),
            }
        }
    }
}

async fn evidence(config: &Config, checks: &mut Checks) {
    match crate::audit_cmd::signing_key(config) {
        Ok(Some(_)) => checks.pass("signing-key", "the checkpoint signing key loads"),
        Ok(None) => checks.skip("signing-key", "no `[evidence] signing_key_*`: checkpoints are not signed"),
        Err(e) => checks.fail(
            "signing-key",
            short(&e.error),
            "make `[evidence] signing_key_file` (or the variable of signing_key_env) hold the key `custos audit keygen` wrote",
        ),
    }
    for w in crate::audit_cmd::witnesses(config).await {
        let name = format!("witness {}", w.location());
        match w.names().await {
            Ok(n) => checks.pass(name, format!("reachable, {} checkpoint(s)", n.len())),
            Err(e) => checks.fail(
                name,
                short(&e.to_string()),
                "create the witness (a directory custos may write, or the bucket of `witness_s3`) and grant custos s3:ListBucket, s3:GetObject, s3:PutObject on it",
            ),
        }
    }
}

async fn llm(config: &Config, checks: &mut Checks) {
    let ReasonerChoice::OpenAi {
        base_url,
        api_key_env,
        ..
    } = &config.reasoner
    else {
        checks.skip("llm", "`[reasoning] mode = \"offline\"`: no model is asked");
        return;
    };
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    // What is printed names the endpoint, never a user, password or query it carries.
    let shown = match reqwest::Url::parse(&url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "the configured base_url".to_string(),
    };
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return checks.fail(
                "llm",
                e.to_string(),
                "report this: the HTTP client could not be built",
            );
        }
    };
    let mut req = client.get(&url);
    if let Ok(key) = std::env::var(api_key_env) {
        req = req.bearer_auth(key);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => checks.pass("llm", format!("`{shown}` answers")),
        Ok(r) => checks.fail(
            "llm",
            format!("`{shown}` answered {}", r.status()),
            format!("check `[reasoning] base_url` and the key in `${api_key_env}`"),
        ),
        Err(e) => checks.fail(
            "llm",
            short(&format!("`{shown}`: {}", e.without_url())),
            "check `[reasoning] base_url` and that the endpoint is reachable from here",
        ),
    }
}

/// The actions IAM's simulator is asked about: every statement on `*` (the optional ones
/// name ARNs of the deployment).
fn simulated(config: &Config, mode: Mode) -> Result<Vec<String>, String> {
    let inputs =
        crate::iam_cmd::inputs(config, mode, &[], PolicyFormat::Json).map_err(|e| e.error)?;
    Ok(crate::iam_cmd::statements(&inputs)?
        .into_iter()
        .filter(|s| !s.deny && s.resources == Resources::Any)
        .flat_map(|s| s.actions)
        .collect())
}

/// Simulate `actions` for the principal behind `caller` in `account`.
async fn permissions(
    pool: &AwsPool,
    account: &str,
    region: &str,
    caller: &str,
    actions: &[String],
    checks: &mut Checks,
) {
    let name = format!("permissions {account}");
    match preflight::principal(pool, account, region, caller).await {
        Ok(None) => checks.skip(
            name,
            "the root user: IAM cannot simulate it (it may do everything; run custos as a role)",
        ),
        Ok(Some(p)) => {
            checks.probe(
                name,
                preflight::simulate(pool, account, region, &p, actions).await,
                format!("attach `custos iam-policy` for this mode to `{p}` (terraform: modules custos, member-role)"),
            );
        }
        Err(e) => checks.fail(
            name,
            e,
            "let custos read its own role (iam:GetRole) or run doctor with credentials that may",
        ),
    }
}

async fn aws(config: &Config, mode: Mode, checks: &mut Checks) {
    let pool = match build::aws_pool(config).await {
        Ok(p) => Arc::new(p),
        Err(e) => {
            checks.fail(
                "identity",
                short(&e.to_string()),
                "give custos AWS credentials (environment, profile, SSO or the task's role) and a region",
            );
            return;
        }
    };
    let (account, region) = (pool.default_account().to_string(), pool.default_region());
    let me = preflight::identity(&pool, &account, &region).await;
    let caller = me.clone().unwrap_or_default();
    let actions = simulated(config, mode);
    let known = checks.probe(
        "identity".to_string(),
        me.map(|arn| format!("{arn} in {region}")),
        "check the credentials",
    );
    match &actions {
        Ok(actions) if known => {
            permissions(&pool, &account, &region, &caller, actions, checks).await
        }
        Ok(_) => {}
        Err(e) => checks.fail(
            "permissions",
            e.clone(),
            "fix the policy bundle and playbooks",
        ),
    }
    for t in &config.targets {
        let (Some(other), Some(role)) = (&t.account, &t.role_arn) else {
            continue;
        };
        let region = t.regions.first().cloned().unwrap_or_else(|| region.clone());
        let assumed = preflight::identity(&pool, other, &region).await;
        checks.probe(
            format!("member-role {other}"),
            assumed.clone(),
            format!(
                "let `{role}` trust `{caller}` (module member-role: `custos_role_arn`), with the external id of `[[aws.accounts]] external_id`"
            ),
        );
        if let (Ok(arn), Ok(actions)) = (&assumed, &actions) {
            permissions(&pool, other, &region, arn, actions, checks).await;
        }
    }
    // Every read a scan makes, as the scan makes it: each failure names its IAM action.
    let bundle = match build::load_policy(config) {
        Ok(b) => b,
        Err(_) => return,
    };
    let types = build::bundle_types(&bundle);
    let scan = Inventory::new(pool.clone(), &config.targets, config.scan_concurrency)
        .only(Types::Only(types));
    match scan.collect().await {
        Ok(b) if b.rejected.is_empty() => checks.pass(
            "reads",
            format!("a scan read {} resources with no refusal", b.items.len()),
        ),
        Ok(b) => checks.fail(
            "reads",
            short(
                &b.rejected
                    .iter()
                    .take(3)
                    .map(|r| format!("{}: {}", r.location, r.error))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            format!(
                "{} read(s) refused: grant `custos iam-policy --mode detect` (or remediate) to `{caller}`",
                b.rejected.len()
            ),
        ),
        Err(e) => checks.fail("reads", short(&e.to_string()), "check the credentials and regions"),
    }
    let uses_config = config.schedules.iter().any(|s| {
        s.task
            == Task::Scan {
                from: ScanFrom::Config,
            }
    });
    for (acct, reg) in custos_telemetry::inventory::regions(&pool, &config.targets) {
        let name = format!("config-recorder {acct}/{reg}");
        if uses_config {
            checks.probe(
                name,
                preflight::recorder(&pool, &acct, &reg).await,
                "start a recorder that records the controls' types (terraform/modules/config-recorder)",
            );
        } else {
            checks.skip(
                name,
                "no `[[schedules]]` reads AWS Config (`source = \"config\"`)",
            );
        }
    }
    let Some(url) = &config.queue_url else {
        checks.skip(
            "queue",
            "no `[telemetry] queue_url`: change events are not consumed",
        );
        return;
    };
    let queue_region = crate::iam_cmd::queue_arn(url, Some(&region))
        .and_then(|arn| arn.split(':').nth(3).map(str::to_string))
        .unwrap_or_else(|| region.clone());
    let arn = preflight::queue(&pool, &account, &queue_region, url).await;
    let found = arn.clone();
    if checks.probe(
        "queue".into(),
        arn.map(|a| format!("`{a}`")),
        format!("create the queue `{url}` (terraform/modules/custos) or fix `[telemetry] queue_url`, and grant sqs:ReceiveMessage and sqs:DeleteMessage on it"),
    ) && let Ok(arn) = found
    {
        checks.probe(
            "queue-rule".into(),
            preflight::rule_feeds(&pool, &account, &queue_region, &arn).await,
            "add an EventBridge rule for `aws.config` \"Config Configuration Item Change\" with the queue as target, and a queue policy that lets it send (terraform/modules/custos)",
        );
    }
}

pub async fn run(cfg: Option<&Path>, db: Option<&str>, mode: Option<Mode>) -> Vec<Check> {
    let mut checks = Checks::default();
    let mut config = match build::load_config(cfg) {
        Ok(c) => c,
        Err(e) => {
            checks.fail("config", short(&e.error), "fix the fields named above");
            return checks.0;
        }
    };
    if let Some(url) = db {
        config.database_url = url.to_string();
    }
    checks.pass(
        "config",
        match &config.source {
            Some(p) => format!("`{}` is valid", p.display()),
            None => "the defaults (no configuration file)".into(),
        },
    );
    match build::load_policy(&config).and_then(|bundle| {
        let playbooks =
            build::load_playbooks(&config, &bundle, &custos_executor::offline_catalog())?;
        Ok((bundle.controls().len(), playbooks.iter().count()))
    }) {
        Ok((controls, playbooks)) => checks.pass(
            "policy",
            format!("{controls} controls, {playbooks} playbooks, all valid"),
        ),
        Err(e) => checks.fail(
            "policy",
            short(&e.error),
            "fix the files named above (`custos policy check`)",
        ),
    }
    ledger(&config, &mut checks).await;
    evidence(&config, &mut checks).await;
    llm(&config, &mut checks).await;
    let mode = mode.unwrap_or(if config.autonomy.ceiling >= AutonomyLevel::Approve {
        Mode::Remediate
    } else {
        Mode::Detect
    });
    aws(&config, mode, &mut checks).await;
    checks.0
}

/// Print the checks; the exit code (3 when any failed).
pub fn report(checks: &[Check], out: Output) -> Result<u8, Failure> {
    match out {
        Output::Json => crate::cli::print_json(&checks)?,
        Output::Table => {
            let mut text = String::new();
            for c in checks {
                let tag = match c.status {
                    Status::Pass => "pass",
                    Status::Fail => "FAIL",
                    Status::Skip => "skip",
                };
                text.push_str(&format!("{tag}  {:<32} {}\n", c.check, c.detail));
                if let Some(fix) = &c.fix {
                    text.push_str(&format!("      fix: {fix}\n"));
                }
            }
            crate::render::emit(&text);
        }
    }
    Ok(if checks.iter().any(|c| c.status == Status::Fail) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}
