//! Build the engine: validate everything first (config, policy, playbooks) and refuse to
//! start on any error; then open the ledger and the AWS clients.

use crate::cli::{EXIT_INVALID, EXIT_RUNTIME, Failure};
use async_trait::async_trait;
use custos_core::SystemClock;
use custos_core::{ConfigurationItem, ResourceRef};
use custos_engine::{Config, Engine, Parts};
use custos_executor::{Catalog, PlaybookSet, Registry};
use custos_ledger::Ledger;
use custos_policy::PolicyBundle;
use custos_reasoning::Reasoning;
use custos_telemetry::aws::{AwsPool, load_sdk_config};
use custos_telemetry::inventory::Types;
use custos_telemetry::{ConfigInventory, Inventory, ResourceReader, TelemetryError};
use std::path::Path;
use std::sync::Arc;

/// What a command needs besides the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Ledger and AWS reads (run, approve, rollback, scans of the account).
    Aws,
    /// Neither AWS nor a ledger (plan/scan over a replay file).
    Offline,
    /// The ledger, no AWS (deny; the HTTP server's reads).
    Ledger,
}

/// A reader for commands that never read the cloud.
#[derive(Debug)]
struct NoReader;

#[async_trait]
impl ResourceReader for NoReader {
    async fn read(&self, r: &ResourceRef) -> Result<Option<ConfigurationItem>, TelemetryError> {
        Err(TelemetryError::Unsupported(format!(
            "{} (offline: no AWS reader)",
            r.resource_type
        )))
    }
}

/// The configuration: `--config` (`CUSTOS_CONFIG`), else the text of
/// `CUSTOS_CONFIG_TOML` (a container's configuration, relative paths from the working
/// directory), else the defaults. `CUSTOS_QUEUE_URL` sets `[telemetry] queue_url` (the
/// Terraform module's queue).
pub fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    let text = std::env::var("CUSTOS_CONFIG_TOML").ok();
    let mut config = match (path, text) {
        (None, Some(text)) => {
            let label = "CUSTOS_CONFIG_TOML";
            Config::from_toml(&text, label, Some(Path::new(label)), Path::new("."))
        }
        (path, _) => Config::load(path),
    }
    .map_err(|e| Failure::new(EXIT_INVALID, e))?;
    if let Ok(url) = std::env::var("CUSTOS_QUEUE_URL") {
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
            return Err(Failure::msg(
                EXIT_INVALID,
                format!(
                    "CUSTOS_QUEUE_URL: `{}` is not a queue URL",
                    custos_core::for_log(&url)
                ),
            ));
        }
        config.queue_url = Some(url);
    }
    Ok(config)
}

pub fn load_policy(config: &Config) -> Result<PolicyBundle, Failure> {
    PolicyBundle::load_layers(&config.policy_dirs(), config.policy_options())
        .map_err(|e| Failure::new(EXIT_INVALID, e))
}

/// Playbooks, cross-checked with the policy: every playbook names a known control and
/// every control's remediation names a known playbook.
pub fn load_playbooks(
    config: &Config,
    bundle: &PolicyBundle,
    catalog: &Catalog,
) -> Result<PlaybookSet, Failure> {
    let set = PlaybookSet::load_dirs(&config.playbook_dirs(), catalog, &config.playbook_overrides)
        .map_err(|errs| {
            Failure::msg(
                EXIT_INVALID,
                format!(
                    "playbooks are invalid:\n{}",
                    errs.iter()
                        .map(|e| format!("  - {e}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            )
        })?;
    let mut errors = Vec::new();
    for pb in set.iter() {
        match bundle.control(&pb.control) {
            None => errors.push(format!(
                "  - `{}`: field `control`: no control `{}` in the policy bundle",
                pb.file.display(),
                pb.control
            )),
            Some(c) if c.class == custos_policy::RemediationClass::Alert => errors.push(format!(
                "  - `{}`: field `control`: control `{}` is alert-only (class `alert`); no playbook may fix it",
                pb.file.display(),
                pb.control
            )),
            Some(c) if c.class == custos_policy::RemediationClass::Human => {
                let approval = pb.requires_approval == Some(true)
                    || catalog
                        .get(&pb.action)
                        .is_some_and(|a| a.properties().requires_approval);
                if !approval {
                    errors.push(format!(
                        "  - `{}`: control `{}` is class `human`, so its playbook must require approval (`requires_approval = true`)",
                        pb.file.display(),
                        pb.control
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for c in bundle.controls() {
        if let Some(r) = &c.remediation
            && set.get(r).is_none()
        {
            errors.push(format!(
                "  - `{}`: control `{}` names remediation `{r}`, but no playbook has that id",
                c.file, c.id
            ));
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(Failure::msg(
            EXIT_INVALID,
            format!("policy and playbooks disagree:\n{}", errors.join("\n")),
        ))
    }
}

pub struct Built {
    pub engine: Engine,
    /// Every configured account and region (AWS commands only).
    pub inventory: Option<Arc<Inventory>>,
    /// The same accounts and regions as AWS Config recorded them (`--source config`).
    pub config_inventory: Option<Arc<ConfigInventory>>,
    pub pool: Option<Arc<AwsPool>>,
}

/// The AWS clients of the configured accounts: the default credentials' account, and
/// each `[[aws.accounts]]` through its role (with its external id).
pub async fn aws_pool(config: &Config) -> Result<AwsPool, custos_telemetry::TelemetryError> {
    let of = |f: fn(&custos_telemetry::aws::Target) -> Option<String>| {
        config
            .targets
            .iter()
            .filter_map(|t| Some((t.account.clone()?, f(t)?)))
            .collect()
    };
    let base = load_sdk_config(config.region.as_deref()).await;
    Ok(AwsPool::new(base, of(|t| t.role_arn.clone()))
        .await?
        .with_external_ids(of(|t| t.external_id.clone())))
}

/// The resource types the bundle's controls evaluate: all a scan needs to list.
pub fn bundle_types(bundle: &PolicyBundle) -> std::collections::BTreeSet<String> {
    bundle
        .controls()
        .iter()
        .flat_map(|c| c.resource_types.iter().cloned())
        .collect()
}

pub async fn engine(
    config_path: Option<&Path>,
    database_url: Option<&str>,
    needs: Needs,
    actor: &str,
) -> Result<Built, Failure> {
    let mut config = load_config(config_path)?;
    if let Some(url) = database_url {
        config.database_url = url.to_string();
    }
    let bundle = load_policy(&config)?;
    // Validate the playbooks before anything talks to AWS: a broken file refuses to start
    // the same way with or without credentials.
    let playbooks = load_playbooks(&config, &bundle, &custos_executor::offline_catalog())?;
    let pool = match needs {
        Needs::Offline | Needs::Ledger => None,
        Needs::Aws => Some(Arc::new(
            aws_pool(&config)
                .await
                .map_err(|e| Failure::new(EXIT_RUNTIME, e))?,
        )),
    };
    // Offline commands never call AWS: their executors sit on a pool that is never used.
    let registry = match &pool {
        Some(p) => Registry::new(custos_executor::all_executors(p.clone())),
        None => Registry::new(custos_executor::executors_for_tests()),
    };
    let ledger = match needs {
        // Offline commands write nothing: an in-memory ledger satisfies the engine.
        Needs::Offline => Ledger::open("sqlite::memory:").await,
        Needs::Aws | Needs::Ledger => Ledger::open(&config.database_url).await,
    }
    .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
    let types = bundle_types(&bundle);
    let inventory = pool.as_ref().map(|p| {
        Arc::new(
            Inventory::new(p.clone(), &config.targets, config.scan_concurrency)
                .only(Types::Only(types.clone())),
        )
    });
    let config_inventory = pool.as_ref().map(|p| {
        Arc::new(
            ConfigInventory::new(p.clone(), &config.targets, &types, config.scan_concurrency)
                .through_aggregator(config.config_aggregator.clone()),
        )
    });
    let reader: Arc<dyn ResourceReader> = match &inventory {
        Some(i) => i.clone(),
        None => Arc::new(NoReader),
    };
    // The offline context rules always run; a model, when configured, can only add
    // caution on top of them.
    let model: Option<Arc<dyn custos_reasoning::Reasoner>> = match &config.reasoner {
        custos_engine::config::ReasonerChoice::Offline => None,
        custos_engine::config::ReasonerChoice::OpenAi {
            base_url,
            model,
            api_key_env,
            min_confidence,
            cache_ttl,
            max_answer_bytes,
            calendar_file,
        } => {
            let calendar = match calendar_file {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| {
                        Failure::msg(
                            EXIT_INVALID,
                            format!("reasoning.calendar_file `{}`: {e}", p.display()),
                        )
                    })?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .take(200)
                    .map(str::to_string)
                    .collect(),
                None => Vec::new(),
            };
            Some(Arc::new(custos_reasoning::LlmReasoner::new(
                custos_reasoning::LlmSettings {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key: std::env::var(api_key_env).ok(),
                    min_confidence: *min_confidence,
                    max_answer_bytes: *max_answer_bytes,
                    cache_ttl: *cache_ttl,
                    calendar,
                },
            )))
        }
    };
    let reasoning = Reasoning {
        offline: config.offline_rules.clone(),
        model,
        timeout: config.reasoning_timeout,
    };
    let notifier = match (&needs, &config.notifications) {
        (Needs::Offline, _) | (_, None) => None,
        (_, Some(n)) => Some(n.clone()),
    };
    let ledger = Arc::new(ledger);
    let notifier: Option<Arc<dyn custos_engine::notify::Notify>> = match notifier {
        None => None,
        Some(n) => {
            let url = match &n.url {
                custos_engine::config::WebhookUrl::Literal(u) => u.clone(),
                custos_engine::config::WebhookUrl::Env(var) => std::env::var(var)
                    .ok()
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .ok_or_else(|| {
                        Failure::msg(
                            EXIT_INVALID,
                            format!("notifications.webhook_url_env: the environment variable `{var}` does not hold an http(s) URL"),
                        )
                    })?,
            };
            let hook = custos_server::notify::Webhook {
                url,
                attempts: n.attempts,
                backoff: n.backoff,
                timeout: n.timeout,
                page_url: n.page_url.clone(),
            };
            Some(Arc::new(
                custos_server::notify::WebhookNotifier::new(hook, ledger.clone())
                    .map_err(|e| Failure::new(EXIT_RUNTIME, e))?,
            ))
        }
    };
    let engine = Engine::new(Parts {
        config,
        bundle,
        playbooks,
        registry,
        reasoning,
        reader,
        ledger,
        clock: Arc::new(SystemClock),
        actor: actor.to_string(),
    });
    let engine = match notifier {
        Some(n) => engine.notifying(n),
        None => engine,
    };
    Ok(Built {
        engine,
        inventory,
        config_inventory,
        pool,
    })
}
