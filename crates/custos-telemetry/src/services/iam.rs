//! IAM, read once per account (AWS Config records IAM resources in region `global`, and
//! so does custos): users (`AWS::IAM::User`: resource id the user id, name the user
//! name), customer managed policies (`AWS::IAM::Policy`: resource id the policy id; the
//! default version's document URL-encoded, as Config records it) and the account's IAM
//! settings (`Custos::IAM::Account`: custos's own type, since Config records no item for
//! them; resource id the account id).
//!
//! Additions where Config records less: a user's `supplementaryConfiguration.Credentials`
//! (`passwordEnabled`, `passwordLastUsed`, `mfaActive`, and `accessKeys` with each key's
//! status, creation and last use), read per user, the same facts as the credential
//! report's with the key ids a fix needs. The account item's `AccountSummary` and
//! `PasswordPolicy` (`null`: the account has none) are the APIs' answers; a read that
//! fails is named in `Unread`, and the controls report it as unknown, never compliant.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::{error_code, error_message};
use aws_sdk_iam::types::{PolicyScopeType, User};
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const USER: &str = "AWS::IAM::User";
pub const POLICY: &str = "AWS::IAM::Policy";
pub const ACCOUNT: &str = "Custos::IAM::Account";
/// The region AWS Config gives IAM's items, and custos with it.
pub const GLOBAL: &str = "global";
pub const USER_READS: &[&str] = &[
    "iam:ListUsers",
    "iam:ListUserTags",
    "iam:ListAttachedUserPolicies",
    "iam:ListUserPolicies",
    "iam:ListGroupsForUser",
    "iam:GetLoginProfile",
    "iam:ListMFADevices",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
];
pub const POLICY_READS: &[&str] = &[
    "iam:ListPolicies",
    "iam:GetPolicyVersion",
    "iam:ListPolicyTags",
];
pub const ACCOUNT_READS: &[&str] = &["iam:GetAccountSummary", "iam:GetAccountPasswordPolicy"];

fn time(t: &aws_sdk_iam::primitives::DateTime) -> Option<String> {
    t.fmt(aws_sdk_iam::primitives::DateTimeFormat::DateTime)
        .ok()
}

fn no_such_entity(code: Option<&str>) -> bool {
    code == Some("NoSuchEntity")
}

/// Every user, or the one whose user id is `only`.
pub async fn users(at: &At, only: Option<&str>) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = at
            .clients
            .iam
            .list_users()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("iam:ListUsers", "users", &e))?;
        for u in page.users() {
            if only.is_some_and(|id| id != u.user_id()) {
                continue;
            }
            if let Some(ci) = user(at, u).await? {
                out.push(ci);
            }
        }
        marker = page.marker().filter(|t| !t.is_empty()).map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    Ok(out)
}

/// `Err(None)`: the user is gone.
macro_rules! user_read {
    ($req:expr, $action:literal, $name:expr) => {
        match $req.send().await {
            Ok(o) => o,
            Err(e) if no_such_entity(error_code(&e)) => return Ok(None),
            Err(e) => return Err(aws_error($action, $name, &e)),
        }
    };
}

async fn user(at: &At, u: &User) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let iam = &at.clients.iam;
    let name = u.user_name();
    let tags = user_read!(
        iam.list_user_tags().user_name(name),
        "iam:ListUserTags",
        name
    );
    let attached = user_read!(
        iam.list_attached_user_policies().user_name(name),
        "iam:ListAttachedUserPolicies",
        name
    );
    let inline = user_read!(
        iam.list_user_policies().user_name(name),
        "iam:ListUserPolicies",
        name
    );
    let groups = user_read!(
        iam.list_groups_for_user().user_name(name),
        "iam:ListGroupsForUser",
        name
    );
    let password = match iam.get_login_profile().user_name(name).send().await {
        Ok(_) => true,
        Err(e) if no_such_entity(error_code(&e)) => false,
        Err(e) => return Err(aws_error("iam:GetLoginProfile", name, &e)),
    };
    let mfa = user_read!(
        iam.list_mfa_devices().user_name(name),
        "iam:ListMFADevices",
        name
    );
    let keys = user_read!(
        iam.list_access_keys().user_name(name),
        "iam:ListAccessKeys",
        name
    );
    let mut access_keys = Vec::new();
    for k in keys.access_key_metadata() {
        let Some(id) = k.access_key_id() else {
            continue;
        };
        let used = match iam
            .get_access_key_last_used()
            .access_key_id(id)
            .send()
            .await
        {
            Ok(o) => o
                .access_key_last_used()
                .and_then(|l| l.last_used_date())
                .and_then(time),
            Err(e) if no_such_entity(error_code(&e)) => continue,
            Err(e) => return Err(aws_error("iam:GetAccessKeyLastUsed", name, &e)),
        };
        access_keys.push(json!({
            "accessKeyId": id,
            "status": k.status().map(|s| s.as_str()),
            "createDate": k.create_date().and_then(time),
            "lastUsedDate": used,
        }));
    }
    let mut c = Map::new();
    c.insert("userName".into(), json!(name));
    c.insert("userId".into(), json!(u.user_id()));
    c.insert("arn".into(), json!(u.arn()));
    c.insert("path".into(), json!(u.path()));
    put(&mut c, "createDate", time(u.create_date()));
    let attached: Vec<Value> = attached
        .attached_policies()
        .iter()
        .map(|p| json!({"policyArn": p.policy_arn(), "policyName": p.policy_name()}))
        .collect();
    c.insert("attachedManagedPolicies".into(), json!(attached));
    let inline: Vec<Value> = inline
        .policy_names()
        .iter()
        .map(|n| json!({"policyName": n}))
        .collect();
    c.insert("userPolicyList".into(), json!(inline));
    let groups: Vec<&str> = groups.groups().iter().map(|g| g.group_name()).collect();
    c.insert("groupList".into(), json!(groups));
    if let Some(b) = u.permissions_boundary() {
        let mut pb = Map::new();
        put(
            &mut pb,
            "permissionsBoundaryArn",
            b.permissions_boundary_arn(),
        );
        put(
            &mut pb,
            "permissionsBoundaryType",
            b.permissions_boundary_type().map(|t| t.as_str()),
        );
        c.insert("permissionsBoundary".into(), Value::Object(pb));
    }
    let mut supplementary = Map::new();
    supplementary.insert(
        "Credentials".into(),
        json!({
            "passwordEnabled": password,
            "passwordLastUsed": u.password_last_used().and_then(time),
            "mfaActive": !mfa.mfa_devices().is_empty(),
            "accessKeys": access_keys,
        }),
    );
    let tags: BTreeMap<String, String> = tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    at.item(
        USER,
        u.user_id(),
        Some(name),
        Some(u.arn().to_string()),
        tags,
        Value::Object(c),
        supplementary,
    )
    .map(Some)
}

/// Every customer managed policy, or the one whose policy id is `only`.
pub async fn policies(
    at: &At,
    only: Option<&str>,
) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let iam = &at.clients.iam;
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_policies()
            .scope(PolicyScopeType::Local)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("iam:ListPolicies", "policies", &e))?;
        for p in page.policies() {
            let (Some(id), Some(name), Some(arn)) = (p.policy_id(), p.policy_name(), p.arn())
            else {
                continue;
            };
            if only.is_some_and(|o| o != id) {
                continue;
            }
            let version = p.default_version_id().unwrap_or("v1");
            let document = match iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
            {
                Ok(v) => v
                    .policy_version()
                    .and_then(|v| v.document())
                    .map(str::to_string),
                Err(e) if no_such_entity(error_code(&e)) => continue,
                Err(e) => return Err(aws_error("iam:GetPolicyVersion", arn, &e)),
            };
            let tags = match iam.list_policy_tags().policy_arn(arn).send().await {
                Ok(t) => t
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                Err(e) if no_such_entity(error_code(&e)) => continue,
                Err(e) => return Err(aws_error("iam:ListPolicyTags", arn, &e)),
            };
            let mut c = Map::new();
            c.insert("policyName".into(), json!(name));
            c.insert("policyId".into(), json!(id));
            c.insert("arn".into(), json!(arn));
            put(&mut c, "path", p.path());
            put(&mut c, "description", p.description());
            c.insert("defaultVersionId".into(), json!(version));
            put(&mut c, "attachmentCount", p.attachment_count());
            put(
                &mut c,
                "permissionsBoundaryUsageCount",
                p.permissions_boundary_usage_count(),
            );
            c.insert("isAttachable".into(), json!(p.is_attachable()));
            put(&mut c, "createDate", p.create_date().and_then(time));
            put(&mut c, "updateDate", p.update_date().and_then(time));
            c.insert(
                "policyVersionList".into(),
                json!([{"versionId": version, "isDefaultVersion": true, "document": document}]),
            );
            out.push(at.item(
                POLICY,
                id,
                Some(name),
                Some(arn.to_string()),
                tags,
                Value::Object(c),
                Map::new(),
            )?);
        }
        marker = page.marker().filter(|t| !t.is_empty()).map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The account's IAM settings, as one item.
pub async fn account(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let iam = &at.clients.iam;
    let mut c = Map::new();
    let mut unread = Vec::new();
    match iam.get_account_summary().send().await {
        Ok(s) => {
            let map: BTreeMap<String, i32> = s
                .summary_map()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect();
            c.insert("AccountSummary".into(), json!(map));
        }
        Err(e) => {
            unread.push(json!({"action": "iam:GetAccountSummary", "message": error_message(&e)}))
        }
    }
    match iam.get_account_password_policy().send().await {
        Ok(p) => {
            let p = p.password_policy();
            let mut m = Map::new();
            put(
                &mut m,
                "MinimumPasswordLength",
                p.and_then(|p| p.minimum_password_length()),
            );
            for (k, v) in [
                ("RequireSymbols", p.map(|p| p.require_symbols())),
                ("RequireNumbers", p.map(|p| p.require_numbers())),
                (
                    "RequireUppercaseCharacters",
                    p.map(|p| p.require_uppercase_characters()),
                ),
                (
                    "RequireLowercaseCharacters",
                    p.map(|p| p.require_lowercase_characters()),
                ),
                (
                    "AllowUsersToChangePassword",
                    p.map(|p| p.allow_users_to_change_password()),
                ),
                ("ExpirePasswords", p.map(|p| p.expire_passwords())),
            ] {
                m.insert(k.into(), json!(v.unwrap_or(false)));
            }
            put(
                &mut m,
                "MaxPasswordAge",
                p.and_then(|p| p.max_password_age()),
            );
            put(
                &mut m,
                "PasswordReusePrevention",
                p.and_then(|p| p.password_reuse_prevention()),
            );
            put(&mut m, "HardExpiry", p.and_then(|p| p.hard_expiry()));
            c.insert("PasswordPolicy".into(), Value::Object(m));
        }
        Err(e) if no_such_entity(error_code(&e)) => {
            c.insert("PasswordPolicy".into(), Value::Null);
        }
        Err(e) => unread
            .push(json!({"action": "iam:GetAccountPasswordPolicy", "message": error_message(&e)})),
    }
    c.insert("Unread".into(), json!(unread));
    Ok(vec![at.item(
        ACCOUNT,
        &at.account,
        None,
        None,
        BTreeMap::new(),
        Value::Object(c),
        Map::new(),
    )?])
}
