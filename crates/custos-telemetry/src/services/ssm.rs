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

/// Pages of a document's sharing read at most (a document may be shared with up to
/// 1,000 accounts; the API returns up to 200 per page).
const PERMISSION_PAGES: usize = 10;

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
    // Every page of the accounts it is shared with (`all` may come on any of them),
    // at most `PERMISSION_PAGES`, ending on an empty or repeated token.
    let mut shared = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PERMISSION_PAGES {
        let page = match ssm
            .describe_document_permission()
            .name(name)
            .permission_type(DocumentPermissionType::Share)
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if gone(error_code(&e)) => return Ok(None),
            Err(e) => return Err(aws_error("ssm:DescribeDocumentPermission", name, &e)),
        };
        shared.extend(page.account_ids().iter().cloned());
        match page.next_token().filter(|t| !t.is_empty()) {
            Some(t) if token.as_deref() != Some(t) => token = Some(t.to_string()),
            _ => break,
        }
    }
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
