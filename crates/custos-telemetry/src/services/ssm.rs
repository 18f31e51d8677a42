//! SSM documents the account owns (`AWS::SSM::Document`: resource id and name the
//! document name), with Config's field names. Addition:
//! `supplementaryConfiguration.Permissions.AccountIds`, who the document is shared with
//! (`all`: public), from `ssm:DescribeDocumentPermission`.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_ssm::types::{DocumentKeyValuesFilter, DocumentPermissionType};
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const DOCUMENT: &str = "AWS::SSM::Document";
pub const READS: &[&str] = &[
    "ssm:ListDocuments",
    "ssm:DescribeDocument",
    "ssm:DescribeDocumentPermission",
];

fn gone(code: Option<&str>) -> bool {
    code == Some("InvalidDocument")
}

pub async fn list(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = at
            .clients
            .ssm
            .list_documents()
            .filters(
                DocumentKeyValuesFilter::builder()
                    .key("Owner")
                    .values("Self")
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("ssm:ListDocuments", "documents", &e))?;
        names.extend(
            page.document_identifiers()
                .iter()
                .filter_map(|d| d.name().map(str::to_string)),
        );
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for name in names {
        if let Some(ci) = read(at, &name).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

/// One document by name; `None` when it no longer exists.
pub async fn read(at: &At, name: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let ssm = &at.clients.ssm;
    let d = match ssm.describe_document().name(name).send().await {
        Ok(d) => d,
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("ssm:DescribeDocument", name, &e)),
    };
    let Some(doc) = d.document() else {
        return Ok(None);
    };
    let shared = match ssm
        .describe_document_permission()
        .name(name)
        .permission_type(DocumentPermissionType::Share)
        .send()
        .await
    {
        Ok(p) => p.account_ids().to_vec(),
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("ssm:DescribeDocumentPermission", name, &e)),
    };
    let mut c = Map::new();
    c.insert("Name".into(), json!(name));
    put(
        &mut c,
        "DocumentType",
        doc.document_type().map(|t| t.as_str()),
    );
    put(
        &mut c,
        "DocumentFormat",
        doc.document_format().map(|t| t.as_str()),
    );
    put(&mut c, "TargetType", doc.target_type());
    put(&mut c, "VersionName", doc.version_name());
    let tags: BTreeMap<String, String> = doc
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let mut supplementary = Map::new();
    supplementary.insert("Permissions".into(), json!({"AccountIds": shared}));
    let arn = format!("arn:aws:ssm:{}:{}:document/{name}", at.region, at.account);
    at.item(
        DOCUMENT,
        name,
        Some(name),
        Some(arn),
        tags,
        Value::Object(c),
        supplementary,
    )
    .map(Some)
}
