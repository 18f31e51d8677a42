//! Executors: the only crate that mutates the cloud.
//!
//! An [`Executor`] knows one action (`s3:PutPublicAccessBlock`, ...): how to read the
//! facet it changes from a configuration item, whether that facet already satisfies the
//! playbook, how to apply the change and how to restore a before state. The contract in
//! DESIGN.md (read, no-op, stale check, intent, call, read back, verify, rollback) is
//! implemented once, in [`contract::execute`], for every executor.

pub mod account_block;
pub mod contract;
pub mod default_sg;
pub mod ec2;
pub mod encryption;
pub mod exposure;
pub mod fake;
pub mod function_policy;
pub mod logging;
pub mod messaging;
pub mod playbook;
pub mod public_policy;
pub mod rds;
pub mod s3;
pub mod setting;
pub mod tagging;
pub mod trails;

pub use contract::{Intent, IntentDecision, Journal, Revert, Verifier, execute, reconcile};
pub use playbook::{Playbook, PlaybookSet};

use async_trait::async_trait;
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk, RollbackStep};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("aws {operation} failed for `{resource}`: {message}")]
    Aws {
        operation: &'static str,
        resource: String,
        message: String,
    },
    #[error("invalid parameters for `{action}`: {message}")]
    Params { action: String, message: String },
    #[error("cannot read `{resource}`: {message}")]
    Read { resource: String, message: String },
    #[error("journal write failed, nothing was called: {0}")]
    Journal(String),
}

/// What an action is, as its code knows it. Playbooks may only make it stricter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActionProperties {
    /// The rollback steps return the resource exactly to its before state.
    pub reversible: bool,
    pub risk: Risk,
    pub kinds: Vec<ActionKind>,
    /// A human must approve every execution, whatever autonomy says.
    pub requires_approval: bool,
}

/// One request a person sends to make a fix by hand, as the AWS CLI takes it: `aws
/// <service> <operation> --cli-input-json <input>`, where `input` is the API's request
/// (its member names, as in the API reference), the same request and values the
/// executor's `apply` sends.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CliRequest {
    /// The AWS CLI's command for the service (`s3api`, `ec2`, `configservice`).
    pub service: &'static str,
    /// The AWS CLI's name of the operation (`put-public-access-block`).
    pub operation: &'static str,
    pub input: Value,
}

impl CliRequest {
    pub fn new(service: &'static str, operation: &'static str, input: Value) -> Self {
        CliRequest {
            service,
            operation,
            input,
        }
    }

    /// The command line, for a POSIX shell: the JSON is one single-quoted word, so no
    /// value in it (a bucket name, a tag) is read by the shell. A resource in region
    /// `global` (an account setting, IAM) gets no `--region`: the person's own is used.
    pub fn command(&self, region: &str) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let region = match region {
            "global" => String::new(),
            r if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                format!(" --region {r}")
            }
            r => format!(" --region {}", quote(r)),
        };
        format!(
            "aws {} {}{region} --cli-input-json {}",
            self.service,
            self.operation,
            quote(&self.input.to_string())
        )
    }
}

/// The IAM actions an action's requests need, as the Service Authorization Reference
/// names them (`s3:PutBucketPublicAccessBlock`, not the API's `PutPublicAccessBlock`).
/// Reads of the resource itself are the scanner's (`custos_telemetry::inventory::reads`).
/// The contract tests record every request sent and fail on one not declared here or
/// there; the IAM policy custos prints is built from these lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Operations {
    /// Reads beyond the resource's own (none for most actions).
    pub read: &'static [&'static str],
    /// What applying the fix calls.
    pub write: &'static [&'static str],
    /// What only a rollback calls (may repeat `write` when the same call restores).
    pub rollback: &'static [&'static str],
    /// Permissions a write or rollback needs that are no request of their own (the
    /// Service Authorization Reference's dependent actions, e.g. `CreateFlowLogs` to S3
    /// needs `logs:CreateLogDelivery`): granted, never recorded on the wire.
    pub needs: &'static [&'static str],
}

impl Operations {
    /// The most common shape: one request applies the fix, one undoes it (often the same),
    /// nothing read beyond the resource itself.
    pub const fn one(
        write: &'static [&'static str],
        rollback: &'static [&'static str],
    ) -> Operations {
        Operations {
            read: &[],
            write,
            rollback,
            needs: &[],
        }
    }

    /// Every action named, each once, sorted.
    pub fn all(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self
            .read
            .iter()
            .chain(self.write)
            .chain(self.rollback)
            .chain(self.needs)
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The pure half of an action: what it reads, what it wants, how it would undo itself.
/// Planning and verification use this; nothing here can change the cloud.
pub trait Action: Send + Sync + std::fmt::Debug {
    /// Action id, e.g. `s3:PutPublicAccessBlock`.
    fn action(&self) -> &'static str;
    /// Resource types this action applies to.
    fn resource_types(&self) -> &'static [&'static str];
    /// Reversibility, risk and kinds, from the code that makes the calls.
    fn properties(&self) -> ActionProperties;
    /// The IAM actions its requests need.
    fn operations(&self) -> Operations;
    /// Check parameters from a playbook (and config overrides) before anything runs.
    fn validate_params(&self, params: &Value) -> Result<(), String>;
    /// Whether the action can be planned with these (valid) parameters: a candidate fix
    /// that needs something only the operator knows (an administrative CIDR) is not
    /// offered until it is configured. `Err` says what is missing.
    fn offered(&self, params: &Value) -> Result<(), String> {
        let _ = params;
        Ok(())
    }
    /// The facet of the resource this action changes, normalized, from a configuration item.
    fn facet(&self, ci: &ConfigurationItem) -> Value;
    /// The facet when it depends on the playbook's parameters (which entries are
    /// offending, which tags are required). Defaults to [`Action::facet`].
    fn facet_for(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        let _ = params;
        self.facet(ci)
    }
    /// Does the facet already satisfy the parameters? (Then the action is a no-op.)
    fn satisfied(&self, facet: &Value, params: &Value) -> bool;
    /// The facet after the action.
    fn desired(&self, facet: &Value, params: &Value) -> Value;
    /// Steps that return the facet to `before`.
    fn rollback_steps(&self, before: &Value) -> Vec<RollbackStep>;
    /// The facet [`Executor::restore`] leaves when asked to return to `before`: `before`
    /// itself when the rollback is exact, the closest state the API allows otherwise.
    fn restored(&self, before: &Value) -> Value {
        before.clone()
    }
    /// The one thing a fix from `before` to `desired` changes, when its control may
    /// report others on the same resource (one open permission of a function with two):
    /// the fix is verified when the control no longer names it, since one request fixes
    /// one. `None`: the whole control must pass.
    fn subject(&self, before: &Value, desired: &Value) -> Option<String> {
        let _ = (before, desired);
        None
    }
    /// What of a fix that sends more than one request landed, when `now` (the facet read
    /// after an interruption) shows its first requests applied and not the rest.
    /// Reconcile then records the action `failed` with this, instead of `stale` (the
    /// change is custos's own, half made). `None`: not a partial application.
    fn partial(&self, before: &Value, now: &Value) -> Option<String> {
        let _ = (before, now);
        None
    }
    /// The requests that make this fix on `ci` from `before` (its facet, as planned) with
    /// `params`, for a person to send with the AWS CLI (a guided fix): the requests
    /// `apply` sends, with the same values. Empty only when the fix cannot be written
    /// as requests (then the contract test's guided run fails).
    fn cli(&self, ci: &ConfigurationItem, params: &Value, before: &Value) -> Vec<CliRequest>;
    /// Why the resource, as read, is still applying a change, when it is (an RDS
    /// instance `modifying`, or the value this fix sets still pending): the read-back is
    /// repeated, bounded ([`contract::Settle`]), before the state decides anything.
    /// `None`: what is read is what there is.
    fn settling(&self, ci: &ConfigurationItem) -> Option<String> {
        let _ = ci;
        None
    }
}

/// The mutating half. Only the engine's guard holds executors (through [`Registry`]);
/// everything else sees [`Action`]s through a [`Catalog`].
#[async_trait]
pub trait Executor: Action {
    /// Make the change, given the facet read just before (already checked against the
    /// plan). Returns the mutating calls made.
    async fn apply(
        &self,
        resource: &ResourceRef,
        params: &Value,
        before: &Value,
    ) -> Result<Vec<String>, ExecError>;
    /// Return the facet to `before`. Returns the mutating calls made.
    async fn restore(
        &self,
        resource: &ResourceRef,
        before: &Value,
    ) -> Result<Vec<String>, ExecError>;
}

/// Executors by action id. Whoever holds a registry can change the cloud: in the
/// engine, only the guard does.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_action: BTreeMap<String, Arc<dyn Executor>>,
}

/// The pure side of every registered action, for planning and validation.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    by_action: BTreeMap<String, Arc<dyn Action>>,
}

impl Catalog {
    pub fn get(&self, action: &str) -> Option<&Arc<dyn Action>> {
        self.by_action.get(action)
    }

    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.by_action.keys().map(String::as_str)
    }
}

/// Every executor custos ships, over one client pool.
pub fn all_executors(pool: Arc<custos_telemetry::aws::AwsPool>) -> Vec<Arc<dyn Executor>> {
    let mut v = s3::executors(pool.clone());
    v.extend(ec2::executors(pool.clone()));
    v.extend(messaging::executors(pool.clone()));
    v.extend(logging::executors(pool.clone()));
    v.extend(trails::executors(pool.clone()));
    v.extend(encryption::executors(pool.clone()));
    v.extend(rds::executors(pool.clone()));
    v.extend(exposure::executors(pool.clone()));
    v.extend(default_sg::executors(pool.clone()));
    v.extend(public_policy::executors(pool.clone()));
    v.extend(tagging::executors(pool.clone()));
    v.extend(account_block::executors(pool.clone()));
    v.extend(function_policy::executors(pool));
    v
}

/// Every executor over a pool that is never called (pure tests, validation).
#[doc(hidden)]
pub fn executors_for_tests() -> Vec<Arc<dyn Executor>> {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    all_executors(Arc::new(custos_telemetry::aws::AwsPool::with_account(
        sdk,
        "000000000000".into(),
        Default::default(),
    )))
}

/// The pure side of every shipped action, over a pool that is never called (validation
/// and planning without AWS).
pub fn offline_catalog() -> Catalog {
    Registry::new(executors_for_tests()).catalog()
}

impl Registry {
    pub fn new(executors: Vec<Arc<dyn Executor>>) -> Self {
        Registry {
            by_action: executors
                .into_iter()
                .map(|e| (e.action().to_string(), e))
                .collect(),
        }
    }

    pub fn get(&self, action: &str) -> Option<&Arc<dyn Executor>> {
        self.by_action.get(action)
    }

    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.by_action.keys().map(String::as_str)
    }

    /// The pure side of every executor (it cannot be turned back into an executor).
    pub fn catalog(&self) -> Catalog {
        Catalog {
            by_action: self
                .by_action
                .iter()
                .map(|(k, e)| (k.clone(), e.clone() as Arc<dyn Action>))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
    use super::CliRequest;
    use serde_json::json;

    /// The words a POSIX shell (bash) makes of `cmd`, with `aws` a function that prints
    /// them: the shell's own parsing is the oracle, and anything a value smuggled in
    /// (a command substitution, a second command) would run in `dir`.
    fn words(cmd: &str, dir: &std::path::Path) -> Vec<String> {
        let script = format!("aws() {{ printf '%s\\0' \"$@\"; }}\n{cmd}\n");
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_hostile_value_stays_inside_its_json_word() {
        let dir = tempfile::tempdir().unwrap();
        let hostile = "x'; touch pwned; echo '$(touch pwned2)`touch pwned3`\nrm -rf ~ #\"";
        let input = json!({"Bucket": hostile, "Tags": {"a'b": "c\\d"}});
        let req = CliRequest::new("s3api", "put-bucket-tagging", input.clone());
        for (region, flag) in [
            ("us-east-1", vec!["--region", "us-east-1"]),
            ("global", vec![]),
            (
                "eu-west-1'; touch pwned4 #",
                vec!["--region", "eu-west-1'; touch pwned4 #"],
            ),
        ] {
            let cmd = req.command(region);
            let got = words(&cmd, dir.path());
            let mut want = vec!["s3api", "put-bucket-tagging"];
            want.extend(flag);
            want.push("--cli-input-json");
            assert_eq!(got.len(), want.len() + 1, "{cmd}: {got:?}");
            assert_eq!(&got[..want.len()], want.as_slice(), "{cmd}");
            let json: serde_json::Value = serde_json::from_str(&got[want.len()]).unwrap();
            assert_eq!(json, input, "{cmd}");
        }
        let made: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(made.is_empty(), "a value ran something: {made:?}");
    }
}
