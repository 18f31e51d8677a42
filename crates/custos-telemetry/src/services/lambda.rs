//! Lambda functions (`AWS::Lambda::Function`: resource id and name the function name,
//! as Config records them), with Config's field names (`functionName`, `runtime`,
//! `role`, ...; not `state`, which `ListFunctions` does not return). Addition: the function's resource-based policy
//! (`lambda:GetPolicy`) as text under `supplementaryConfiguration.Policy.policyText`, as
//! for queues and topics (absent when the function has none). AWS's published schema
//! lists no policy for the type, so it is read live with `--source config` too
//! (`config_api::LIVE`). Only the function's own policy is read: an alias or a version
//! has a policy of its own.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_lambda::types::FunctionConfiguration;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const FUNCTION: &str = "AWS::Lambda::Function";
pub const READS: &[&str] = &[
    "lambda:ListFunctions",
    "lambda:GetFunctionConfiguration",
    "lambda:GetPolicy",
    "lambda:ListTags",
];

fn gone(code: Option<&str>) -> bool {
    code == Some("ResourceNotFoundException")
}

pub async fn list(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut functions = Vec::new();
    let mut marker = None;
    loop {
        let page = at
            .clients
            .lambda
            .list_functions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("lambda:ListFunctions", "functions", &e))?;
        functions.extend(page.functions().iter().cloned());
        marker = page
            .next_marker()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for f in &functions {
        if let Some(ci) = item(at, f).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

/// One function by name; `None` when it no longer exists.
pub async fn read(at: &At, name: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    match at
        .clients
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(f) => {
            let f = FunctionConfiguration::builder()
                .set_function_name(f.function_name().map(str::to_string))
                .set_function_arn(f.function_arn().map(str::to_string))
                .set_runtime(f.runtime().cloned())
                .set_role(f.role().map(str::to_string))
                .set_handler(f.handler().map(str::to_string))
                .code_size(f.code_size())
                .set_description(f.description().map(str::to_string))
                .set_timeout(f.timeout())
                .set_memory_size(f.memory_size())
                .set_last_modified(f.last_modified().map(str::to_string))
                .set_version(f.version().map(str::to_string))
                .set_revision_id(f.revision_id().map(str::to_string))
                .set_package_type(f.package_type().cloned())
                .build();
            item(at, &f).await
        }
        Err(e) if gone(error_code(&e)) => Ok(None),
        Err(e) => Err(aws_error("lambda:GetFunctionConfiguration", name, &e)),
    }
}

async fn item(
    at: &At,
    f: &FunctionConfiguration,
) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else {
        return Ok(None);
    };
    let lambda = &at.clients.lambda;
    let policy = match lambda.get_policy().function_name(name).send().await {
        Ok(p) => p.policy().map(str::to_string),
        // No policy (or no function any more: the tags below tell).
        Err(e) if gone(error_code(&e)) => None,
        Err(e) => return Err(aws_error("lambda:GetPolicy", name, &e)),
    };
    let tags: BTreeMap<String, String> = match lambda.list_tags().resource(arn).send().await {
        Ok(t) => t
            .tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("lambda:ListTags", name, &e)),
    };
    let mut c = Map::new();
    c.insert("functionName".into(), json!(name));
    c.insert("functionArn".into(), json!(arn));
    put(&mut c, "runtime", f.runtime().map(|r| r.as_str()));
    put(&mut c, "role", f.role());
    put(&mut c, "handler", f.handler());
    c.insert("codeSize".into(), json!(f.code_size()));
    put(&mut c, "description", f.description());
    put(&mut c, "timeout", f.timeout());
    put(&mut c, "memorySize", f.memory_size());
    put(&mut c, "lastModified", f.last_modified());
    put(&mut c, "version", f.version());
    put(&mut c, "revisionId", f.revision_id());
    put(&mut c, "packageType", f.package_type().map(|p| p.as_str()));
    let mut supplementary = Map::new();
    if let Some(p) = policy {
        supplementary.insert("Policy".into(), json!({"policyText": p}));
    }
    at.item(
        FUNCTION,
        name,
        Some(name),
        Some(arn.to_string()),
        tags,
        Value::Object(c),
        supplementary,
    )
    .map(Some)
}
