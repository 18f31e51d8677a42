//! A function's resource-based policy that lets anyone invoke it (FSBP Lambda.1). A
//! Lambda policy is not written as a document: each statement is a permission added with
//! `AddPermission` under a statement id, and removed with one `RemovePermission`. One
//! intent is one request, so a fix removes one statement `lambda_function_public_access.rego`
//! reports (a public principal without a restricting condition, as
//! [`crate::public_policy::public`] decides, or Amazon S3 without the bucket owner's
//! account), the first in the policy's order, and nothing else; it is verified on that
//! statement ([`crate::Action::subject`]), and a function with two gets a plan, and an
//! approval, for each. The rollback adds the statement back with `AddPermission`.
//!
//! The facet is the policy's statements by statement id (`null`: no policy), so the order
//! Lambda lists them in, which a rollback changes, is no difference.

use crate::public_policy::{public, restricts, values};
use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients, error_code};
use custos_telemetry::services::lambda::FUNCTION;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![Setter::boxed(pool, FunctionPolicy)]
}

/// Does the statement let Amazon S3 invoke the function for a bucket of any account
/// (no `AWS:SourceAccount` restricting it)?
fn s3_unscoped(s: &Value) -> bool {
    let s3 = s
        .get("Principal")
        .and_then(|p| p.get("Service"))
        .is_some_and(|v| values(v).contains(&&json!("s3.amazonaws.com")));
    let owner_named =
        s.get("Condition")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .any(|(op, keys)| {
                keys.as_object().into_iter().flatten().any(|(key, v)| {
                    key.to_lowercase() == "aws:sourceaccount" && restricts(op, key, v)
                })
            });
    s.get("Effect").and_then(Value::as_str) == Some("Allow") && s3 && !owner_named
}

/// Does statement `s` let anyone (or any account's bucket) invoke the function?
pub fn open(s: &Value) -> bool {
    public(s) || s3_unscoped(s)
}

/// How much of a statement id the control shows (`lambda_function_public_access.rego`).
const NAME_CHARS: usize = 128;

/// What `AddPermission` takes to write a statement back.
#[derive(Debug, Default, PartialEq)]
struct Grant {
    action: String,
    principal: String,
    source_arn: Option<String>,
    source_account: Option<String>,
    principal_org_id: Option<String>,
    event_source_token: Option<String>,
    function_url_auth_type: Option<String>,
}

/// The `AddPermission` request that writes statement `s` as Lambda wrote it, or `None`
/// when it has a field or condition the request cannot express (it cannot be added back
/// exactly, and is never added back broader than it was).
fn grant(s: &Value) -> Option<Grant> {
    let m = s.as_object()?;
    let known = [
        "Sid",
        "Effect",
        "Principal",
        "Action",
        "Resource",
        "Condition",
    ];
    if m.keys().any(|k| !known.contains(&k.as_str())) || m.get("Effect")? != "Allow" {
        return None;
    }
    // The function itself (`arn:aws:lambda:region:account:function:name`), no qualifier.
    if m.get("Resource")?.as_str()?.split(':').count() != 7 {
        return None;
    }
    let principal = match m.get("Principal")? {
        Value::String(p) if p == "*" => p.clone(),
        Value::Object(p) if p.len() == 1 => match p.iter().next()? {
            (k, Value::String(v)) if k == "Service" || (k == "AWS" && v != "*") => v.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let mut g = Grant {
        action: m.get("Action")?.as_str()?.to_string(),
        principal,
        ..Grant::default()
    };
    for (op, keys) in m
        .get("Condition")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for (key, v) in keys.as_object()? {
            let v = v.as_str()?.to_string();
            let slot = match (op.as_str(), key.to_lowercase().as_str()) {
                ("ArnLike", "aws:sourcearn") => &mut g.source_arn,
                ("StringEquals", "aws:sourceaccount") => &mut g.source_account,
                ("StringEquals", "aws:principalorgid") => &mut g.principal_org_id,
                ("StringEquals", "lambda:eventsourcetoken") => &mut g.event_source_token,
                ("StringEquals", "lambda:functionurlauthtype") => &mut g.function_url_auth_type,
                _ => return None,
            };
            // Two spellings of one key: not one request's worth.
            if slot.replace(v).is_some() {
                return None;
            }
        }
    }
    Some(g)
}

/// The statements of a policy text by statement id (one without an id, which Lambda
/// never writes, under `#<position>`), or the text itself when it is no JSON object.
fn statements(text: Option<&str>) -> Value {
    let Some(t) = text.filter(|t| !t.trim().is_empty()) else {
        return Value::Null;
    };
    let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(t) else {
        return json!(t);
    };
    let list = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let by_id: Map<String, Value> = list
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let id = s
                .get("Sid")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{i}"), str::to_string);
            (id, s)
        })
        .collect();
    Value::Object(by_id)
}

/// The facet without the statements `drop` names (`null` when none is left).
fn without(facet: &Value, drop: impl Fn(&str, &Value) -> bool) -> Value {
    match facet.get("Policy") {
        Some(Value::Object(m)) => {
            let kept: Map<String, Value> = m
                .iter()
                .filter(|(k, s)| !drop(k, s))
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect();
            json!({"Policy": if kept.is_empty() { Value::Null } else { Value::Object(kept) }})
        }
        _ => facet.clone(),
    }
}

/// The statement id of the first open statement of a facet.
fn first_open(facet: &Value) -> Option<String> {
    facet
        .get("Policy")?
        .as_object()?
        .iter()
        .find(|(_, s)| open(s))
        .map(|(k, _)| k.clone())
}

/// Statement ids in `a`'s policy and not in `b`'s.
fn missing(a: &Value, b: &Value) -> Vec<String> {
    let ids = |f: &Value| -> Vec<String> {
        f.get("Policy")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let theirs = ids(b);
    ids(a).into_iter().filter(|k| !theirs.contains(k)).collect()
}

/// The function's resource-based policy (`supplementaryConfiguration.Policy.policyText`,
/// custos's addition): its open statements removed one by one.
#[derive(Debug)]
pub struct FunctionPolicy;

impl FunctionPolicy {
    /// The policy as it is now, by statement id. (Its revision is not sent back with the
    /// change: the moto server 5.2.5 reads `RevisionId` on `RemovePermission` as a list
    /// and refuses every one, so a request naming it could not be tested.)
    async fn live(c: &Clients, r: &ResourceRef) -> Result<Map<String, Value>, ExecError> {
        match c
            .lambda
            .get_policy()
            .function_name(&r.resource_id)
            .send()
            .await
        {
            Ok(p) => Ok(match statements(p.policy()) {
                Value::Object(m) => m,
                _ => Map::new(),
            }),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(Map::new()),
            Err(e) => Err(aws("lambda:GetPolicy", r, &e)),
        }
    }

    /// The statements facet `to` keeps, by statement id (none: no policy), or the error
    /// when its policy is no JSON document (it is left as it is).
    fn wanted(&self, r: &ResourceRef, to: &Value) -> Result<Map<String, Value>, ExecError> {
        match to.get("Policy") {
            Some(Value::Object(m)) => Ok(m.clone()),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(other) => Err(ExecError::Params {
                action: self.action().into(),
                message: format!(
                    "`{}` has a policy that is not a JSON document (`{other}`): it is left as it is",
                    r.resource_id
                ),
            }),
        }
    }

    /// The statement ids a rollback to `to` adds back (those the fix removed from it),
    /// before it leaves out any that is there already.
    fn removed(&self, to: &Value) -> Vec<String> {
        missing(to, &self.desired(to, &Value::Null))
    }
}

/// The `AddPermission` request (as the API names its members) that writes grant `g`
/// back under statement id `id` of function `function`.
fn add_permission_input(function: &str, id: &str, g: Grant) -> Value {
    let mut input = Map::new();
    input.insert("FunctionName".into(), json!(function));
    input.insert("StatementId".into(), json!(id));
    input.insert("Action".into(), json!(g.action));
    input.insert("Principal".into(), json!(g.principal));
    for (member, value) in [
        ("SourceArn", g.source_arn),
        ("SourceAccount", g.source_account),
        ("PrincipalOrgID", g.principal_org_id),
        ("EventSourceToken", g.event_source_token),
        ("FunctionUrlAuthType", g.function_url_auth_type),
    ] {
        if let Some(v) = value {
            input.insert(member.into(), json!(v));
        }
    }
    Value::Object(input)
}

#[async_trait]
impl Setting for FunctionPolicy {
    fn action(&self) -> &'static str {
        "lambda:RemovePermission"
    }
    fn rollback_action(&self) -> &'static str {
        "lambda:AddPermission"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[FUNCTION]
    }
    fn properties(&self) -> ActionProperties {
        // Whoever invoked the function through the permission loses it.
        configure(Risk::High, true)
    }
    fn operations(&self) -> Operations {
        Operations {
            read: &["lambda:GetPolicy"],
            write: &["lambda:RemovePermission"],
            rollback: &["lambda:AddPermission"],
            needs: &[],
        }
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let text = ci
            .supplementary_configuration
            .get("Policy")
            .and_then(|p| p.get("policyText"))
            .and_then(Value::as_str);
        json!({"Policy": statements(text)})
    }
    fn desired(&self, facet: &Value, _params: &Value) -> Value {
        match first_open(facet) {
            Some(id) => without(facet, |k, _| k == id),
            None => facet.clone(),
        }
    }
    fn exact(&self, before: &Value) -> bool {
        let id = first_open(before);
        before["Policy"]
            .get(id.as_deref().unwrap_or_default())
            .is_none_or(|s| grant(s).is_some())
    }
    fn restored(&self, before: &Value) -> Value {
        // A statement `AddPermission` cannot express is not added back.
        if self.exact(before) {
            before.clone()
        } else {
            self.desired(before, &Value::Null)
        }
    }
    fn subject(&self, before: &Value, desired: &Value) -> Option<String> {
        // As the control names a statement: its id in backticks (Lambda's are at most 100
        // characters; the control shows 128). A statement without an id (Lambda writes
        // none) is named by position there: the whole control must pass instead.
        let id = missing(before, desired).into_iter().next()?;
        (!id.starts_with('#') && id.chars().count() <= NAME_CHARS).then(|| format!("`{id}`"))
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let Ok(want) = self.wanted(r, to) else {
            return Vec::new();
        };
        if from.get("Policy").and_then(Value::as_object).is_some() {
            // The fix: the one statement it decided to remove (`put` removes the first
            // still there as decided; here, the policy is taken to be as planned).
            return missing(from, to)
                .into_iter()
                .take(1)
                .map(|id| {
                    CliRequest::new(
                        "lambda",
                        "remove-permission",
                        json!({"FunctionName": r.resource_id, "StatementId": id}),
                    )
                })
                .collect();
        }
        // The rollback: each removed statement added back (`put` leaves out one that is
        // there already, which only the live policy tells).
        self.removed(to)
            .into_iter()
            .filter_map(|id| {
                let g = want.get(&id).and_then(grant)?;
                Some(CliRequest::new(
                    "lambda",
                    "add-permission",
                    add_permission_input(&r.resource_id, &id, g),
                ))
            })
            .collect()
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let want = self.wanted(r, to)?;
        let live = Self::live(c, r).await?;
        let here = |id: &String| live.contains_key(id);
        if let Some(decided) = from.get("Policy").and_then(Value::as_object) {
            // The fix: the one statement it decided to remove, if it is still there as it
            // was decided on.
            if let Some(id) = missing(from, to)
                .into_iter()
                .find(|id| live.get(id).is_some_and(|s| decided.get(id) == Some(s)))
            {
                c.lambda
                    .remove_permission()
                    .function_name(&r.resource_id)
                    .statement_id(id)
                    .send()
                    .await
                    .map_err(|e| aws("lambda:RemovePermission", r, &e))?;
            }
            return Ok(());
        }
        // The rollback (`from` unknown): the statement the fix removed from `to`, added
        // back if it is not there (never one someone else removed since).
        let removed = self.removed(to);
        for id in removed.iter().filter(|id| !here(id)) {
            let Some(g) = want.get(id).and_then(grant) else {
                continue;
            };
            c.lambda
                .add_permission()
                .function_name(&r.resource_id)
                .statement_id(id)
                .action(g.action)
                .principal(g.principal)
                .set_source_arn(g.source_arn)
                .set_source_account(g.source_account)
                .set_principal_org_id(g.principal_org_id)
                .set_event_source_token(g.event_source_token)
                .set_function_url_auth_type(
                    g.function_url_auth_type
                        .map(|t| FunctionUrlAuthType::from(t.as_str())),
                )
                .send()
                .await
                .map_err(|e| aws("lambda:AddPermission", r, &e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:thumbs";

    fn facet(statements: Value) -> Value {
        let text = json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
        json!({"Policy": super::statements(Some(&text.to_string()))})
    }

    #[test]
    fn one_open_statement_goes_per_fix_and_the_rest_stay() {
        let public = json!({"Sid": "public", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": ARN});
        let s3 = json!({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": ARN, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}}});
        let s3_owned = json!({"Sid": "s3-owned", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": ARN, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}});
        let partner = json!({"Sid": "partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "lambda:InvokeFunction", "Resource": ARN});
        let fix = Setter::boxed(
            Arc::new(custos_telemetry::aws::AwsPool::with_account(
                aws_config::SdkConfig::builder().build(),
                "111122223333".into(),
                Default::default(),
            )),
            FunctionPolicy,
        );
        let before = facet(json!([partner, public, s3_owned, s3]));
        let first = fix.desired(&before, &Value::Null);
        assert_eq!(first, facet(json!([partner, s3_owned, s3])));
        assert_eq!(fix.subject(&before, &first).as_deref(), Some("`public`"));
        assert!(!fix.satisfied(&before, &Value::Null));
        assert!(!fix.satisfied(&first, &Value::Null), "`s3` is still open");
        let second = fix.desired(&first, &Value::Null);
        assert_eq!(second, facet(json!([partner, s3_owned])));
        assert_eq!(fix.subject(&first, &second).as_deref(), Some("`s3`"));
        assert!(fix.satisfied(&second, &Value::Null));
        assert!(fix.rollback_steps(&before).iter().all(|s| s.exact));
        // All open: no policy is left.
        let only = facet(json!([public]));
        assert_eq!(fix.desired(&only, &Value::Null), json!({"Policy": null}));
    }

    #[test]
    fn a_statement_add_permission_cannot_write_is_not_added_back() {
        let odd = json!({"Sid": "odd", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": ARN, "Condition": {"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}});
        let url = json!({"Sid": "url", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": ARN, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}});
        let fix = FunctionPolicy;
        let before = facet(json!([odd.clone(), url.clone()]));
        assert!(!fix.exact(&before));
        assert_eq!(fix.restored(&before), facet(json!([url.clone()])));
        let before = facet(json!([url.clone(), odd]));
        assert!(
            fix.exact(&before),
            "the fix removes `url`, which can be added back"
        );
        assert_eq!(
            grant(&url),
            Some(Grant {
                action: "lambda:InvokeFunctionUrl".into(),
                principal: "*".into(),
                function_url_auth_type: Some("NONE".into()),
                ..Grant::default()
            })
        );
        // A qualified resource (an alias's permission) is not the function's own.
        let mut aliased = url.clone();
        aliased["Resource"] = json!(format!("{ARN}:live"));
        assert_eq!(grant(&aliased), None);
    }

    #[test]
    fn a_statement_is_named_as_the_control_names_it() {
        let fix = FunctionPolicy;
        let long = "p".repeat(100);
        let named = |id: &str| {
            let before = json!({"Policy": {id: {"Effect": "Allow", "Principal": "*"}}});
            fix.subject(&before, &json!({"Policy": null}))
        };
        // In full, so that ids alike in their first 64 characters are told apart.
        assert_eq!(named(&long), Some(format!("`{long}`")));
        // By position in the control: the whole control must pass instead.
        assert_eq!(named("#0"), None);
        // Two spellings of one condition key: not one `AddPermission`.
        let twice = json!({"Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": ARN, "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333", "aws:sourceaccount": "444455556666"}}});
        assert_eq!(grant(&twice), None);
    }

    #[test]
    fn unreadable_and_missing_policies_are_left_alone() {
        let fix = FunctionPolicy;
        for facet in [json!({"Policy": null}), json!({"Policy": "{"})] {
            assert_eq!(fix.desired(&facet, &Value::Null), facet);
        }
    }
}
