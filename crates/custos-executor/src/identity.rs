//! Identity fixes, never automated: deactivating an access key unused for too long (FSBP
//! IAM.8, CIS 1.12) and strengthening the account's password policy (IAM.7, CIS 1.8,
//! 1.9). Both are IAM actions (kind `iam`), which the compiled floor never lets run
//! without a person's approval, at any autonomy level; their controls are `human`.

use crate::setting::{Setter, Setting, aws};
use crate::{ActionProperties, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_iam::types::StatusType;
use custos_core::{ActionKind, ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::iam::{ACCOUNT, USER};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), UnusedKey),
        Setter::boxed(pool, PasswordPolicy),
    ]
}

fn iam(risk: Risk) -> ActionProperties {
    ActionProperties {
        reversible: true,
        risk,
        kinds: vec![ActionKind::Iam],
        requires_approval: true,
    }
}

fn days(params: &Value, key: &str, default: i64) -> i64 {
    params.get(key).and_then(Value::as_i64).unwrap_or(default)
}

fn whole(params: &Value, key: &str, range: std::ops::RangeInclusive<i64>) -> Result<(), String> {
    match params.get(key) {
        None => Ok(()),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(()),
            _ => Err(format!(
                "`{key}` must be a whole number from {} to {}, not `{v}`",
                range.start(),
                range.end()
            )),
        },
    }
}

/// The first active access key of a user not used (or, never used, not created) in more
/// than `days` days before the item was captured: deactivated, one key per run (one
/// request per intent); a rollback activates it again.
#[derive(Debug)]
pub struct UnusedKey;

#[async_trait]
impl Setting for UnusedKey {
    fn action(&self) -> &'static str {
        "iam:UpdateAccessKey"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[USER]
    }
    fn properties(&self) -> ActionProperties {
        // Whatever still uses the key stops working.
        iam(Risk::High)
    }
    fn operations(&self) -> Operations {
        Operations::one(&["iam:UpdateAccessKey"], &["iam:UpdateAccessKey"])
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["days"]
    }
    fn check(&self, params: &Value) -> Result<(), String> {
        // 0: every key not used since the item was captured (the contract test's setting:
        // an emulator's keys cannot be made old).
        whole(params, "days", 0..=3650)
    }
    fn facet(&self, ci: &ConfigurationItem, params: &Value) -> Value {
        let limit = chrono::Duration::days(days(params, "days", 90));
        let captured = ci.configuration_item_capture_time;
        // The stale keys (unused for longer than the limit at the capture, compared
        // exactly, as the control compares them),
        // active ones first: the fix deactivates the first, and the key it deactivated
        // stays the facet's when read back. A user with two stale active keys needs two
        // runs, one request each; each is verified on its own key (`subject`).
        let mut stale: Vec<&Value> = ci
            .supplementary_configuration
            .get("Credentials")
            .and_then(|c| c["accessKeys"].as_array())
            .into_iter()
            .flatten()
            .filter(|k| {
                let last = k["lastUsedDate"]
                    .as_str()
                    .or_else(|| k["createDate"].as_str())
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                last.is_some_and(|t| captured.signed_duration_since(t) > limit)
            })
            .collect();
        stale.sort_by_key(|k| {
            (
                k["status"] != "Active",
                k["accessKeyId"].as_str().unwrap_or(""),
            )
        });
        let stale = stale.first();
        json!({
            "userName": ci.configuration.get("userName").cloned().unwrap_or(Value::Null),
            "accessKeyId": stale.map_or(Value::Null, |k| k["accessKeyId"].clone()),
            "status": stale.map_or(Value::Null, |k| k["status"].clone()),
        })
    }
    fn subject(&self, desired: &Value) -> Option<String> {
        desired["accessKeyId"].as_str().map(str::to_string)
    }
    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        if facet["accessKeyId"].is_null() || facet["status"] != "Active" {
            return facet.clone();
        }
        let mut to = facet.clone();
        to["status"] = json!("Inactive");
        to
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let (Some(user), Some(key)) = (to["userName"].as_str(), to["accessKeyId"].as_str()) else {
            return Err(ExecError::Aws {
                operation: "iam:UpdateAccessKey",
                resource: r.resource_id.clone(),
                message: "no user name or access key id to update".into(),
            });
        };
        let status = if to["status"] == "Active" {
            StatusType::Active
        } else {
            StatusType::Inactive
        };
        c.iam
            .update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(status)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("iam:UpdateAccessKey", r, &e))
    }
}

/// The fields of a password policy `UpdateAccountPasswordPolicy` sets (every one is
/// sent: an omitted one returns to its default).
const BOOLS: [&str; 5] = [
    "RequireSymbols",
    "RequireNumbers",
    "RequireUppercaseCharacters",
    "RequireLowercaseCharacters",
    "AllowUsersToChangePassword",
];
const REQUIRED: [&str; 4] = [
    "RequireSymbols",
    "RequireNumbers",
    "RequireUppercaseCharacters",
    "RequireLowercaseCharacters",
];

/// The account's password policy made at least as strong as configured: a minimum
/// length, all four character classes, and a reuse window; never weakened (a longer
/// length or window is kept). A rollback puts the policy back as it was, or deletes it
/// when there was none.
#[derive(Debug)]
pub struct PasswordPolicy;

#[async_trait]
impl Setting for PasswordPolicy {
    fn action(&self) -> &'static str {
        "iam:UpdateAccountPasswordPolicy"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[ACCOUNT]
    }
    fn properties(&self) -> ActionProperties {
        // Users must meet it at their next password change.
        iam(Risk::Medium)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["iam:UpdateAccountPasswordPolicy"],
            &[
                "iam:UpdateAccountPasswordPolicy",
                "iam:DeleteAccountPasswordPolicy",
            ],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &["minimumLength", "reusePrevention"]
    }
    fn check(&self, params: &Value) -> Result<(), String> {
        whole(params, "minimumLength", 6..=128)?;
        whole(params, "reusePrevention", 1..=24)
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let p = match ci.configuration.get("PasswordPolicy") {
            Some(Value::Object(p)) => p,
            Some(Value::Null) => return Value::Null,
            // Not read: unknown, and nothing is changed (a rollback must never delete
            // a policy that was there).
            _ => return json!({"unread": true}),
        };
        let mut f = Map::new();
        f.insert(
            "MinimumPasswordLength".into(),
            json!(
                p.get("MinimumPasswordLength")
                    .and_then(Value::as_i64)
                    .unwrap_or(6)
            ),
        );
        for k in BOOLS {
            f.insert(
                k.into(),
                json!(p.get(k).and_then(Value::as_bool).unwrap_or(false)),
            );
        }
        // Unset and 0 are the same (passwords never expire, any may be reused); the
        // emulator answers 0, AWS leaves the field out.
        for k in ["MaxPasswordAge", "PasswordReusePrevention"] {
            let n = p.get(k).and_then(Value::as_i64).filter(|n| *n > 0);
            f.insert(k.into(), n.map_or(Value::Null, |n| json!(n)));
        }
        f.insert(
            "HardExpiry".into(),
            json!(
                p.get("HardExpiry")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
        );
        Value::Object(f)
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        let min = days(params, "minimumLength", 14);
        let reuse = days(params, "reusePrevention", 24);
        if facet.get("unread").is_some() {
            return facet.clone();
        }
        let mut to = if facet.is_object() {
            facet.clone()
        } else {
            json!({"AllowUsersToChangePassword": true, "MaxPasswordAge": null, "HardExpiry": false})
        };
        to["MinimumPasswordLength"] = json!(
            facet["MinimumPasswordLength"]
                .as_i64()
                .unwrap_or(0)
                .max(min)
        );
        for k in REQUIRED {
            to[k] = json!(true);
        }
        to["PasswordReusePrevention"] = json!(
            facet["PasswordReusePrevention"]
                .as_i64()
                .unwrap_or(0)
                .max(reuse)
        );
        to
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        if to.is_null() {
            return c
                .iam
                .delete_account_password_policy()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("iam:DeleteAccountPasswordPolicy", r, &e));
        }
        let int = |k: &str| to[k].as_i64().and_then(|n| i32::try_from(n).ok());
        let flag = |k: &str| to[k] == true;
        c.iam
            .update_account_password_policy()
            .set_minimum_password_length(int("MinimumPasswordLength"))
            .require_symbols(flag("RequireSymbols"))
            .require_numbers(flag("RequireNumbers"))
            .require_uppercase_characters(flag("RequireUppercaseCharacters"))
            .require_lowercase_characters(flag("RequireLowercaseCharacters"))
            .allow_users_to_change_password(flag("AllowUsersToChangePassword"))
            .set_max_password_age(int("MaxPasswordAge"))
            .set_password_reuse_prevention(int("PasswordReusePrevention"))
            .hard_expiry(flag("HardExpiry"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("iam:UpdateAccountPasswordPolicy", r, &e))
    }
}
