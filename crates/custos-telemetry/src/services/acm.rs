//! ACM certificates (`AWS::ACM::Certificate`: resource id the certificate ARN), with
//! Config's field names (`type`, `status`, `notAfter`, `inUseBy`, `renewalEligibility`,
//! `keyAlgorithm`). Every key type is listed (ACM's default lists only RSA-2048).

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_acm::types::{Filters, KeyAlgorithm};
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const CERTIFICATE: &str = "AWS::ACM::Certificate";
pub const READS: &[&str] = &[
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "acm:ListTagsForCertificate",
];

fn time(t: Option<&aws_sdk_acm::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| {
        t.fmt(aws_sdk_acm::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

pub async fn list(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = at
            .clients
            .acm
            .list_certificates()
            .includes(
                Filters::builder()
                    .set_key_types(Some(
                        KeyAlgorithm::values()
                            .iter()
                            .map(|k| KeyAlgorithm::from(*k))
                            .collect(),
                    ))
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("acm:ListCertificates", "certificates", &e))?;
        arns.extend(
            page.certificate_summary_list()
                .iter()
                .filter_map(|c| c.certificate_arn().map(str::to_string)),
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
    for arn in arns {
        if let Some(ci) = read(at, &arn).await? {
            out.push(ci);
        }
    }
    Ok(out)
}

/// One certificate by ARN; `None` when it no longer exists.
pub async fn read(at: &At, arn: &str) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let acm = &at.clients.acm;
    let gone = |code: Option<&str>| code == Some("ResourceNotFoundException");
    let d = match acm.describe_certificate().certificate_arn(arn).send().await {
        Ok(d) => d,
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("acm:DescribeCertificate", arn, &e)),
    };
    let Some(cert) = d.certificate() else {
        return Ok(None);
    };
    let tags: BTreeMap<String, String> = match acm
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
    {
        Ok(t) => t
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
            .collect(),
        Err(e) if gone(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("acm:ListTagsForCertificate", arn, &e)),
    };
    let mut c = Map::new();
    c.insert("certificateArn".into(), json!(arn));
    put(&mut c, "domainName", cert.domain_name());
    c.insert(
        "subjectAlternativeNames".into(),
        json!(cert.subject_alternative_names()),
    );
    put(&mut c, "type", cert.r#type().map(|t| t.as_str()));
    put(&mut c, "status", cert.status().map(|t| t.as_str()));
    put(&mut c, "issuer", cert.issuer());
    put(&mut c, "serial", cert.serial());
    put(
        &mut c,
        "keyAlgorithm",
        cert.key_algorithm().map(|t| t.as_str()),
    );
    put(&mut c, "signatureAlgorithm", cert.signature_algorithm());
    put(&mut c, "notBefore", time(cert.not_before()));
    put(&mut c, "notAfter", time(cert.not_after()));
    put(&mut c, "createdAt", time(cert.created_at()));
    put(&mut c, "issuedAt", time(cert.issued_at()));
    put(&mut c, "importedAt", time(cert.imported_at()));
    put(
        &mut c,
        "renewalEligibility",
        cert.renewal_eligibility().map(|t| t.as_str()),
    );
    put(
        &mut c,
        "certificateAuthorityArn",
        cert.certificate_authority_arn(),
    );
    c.insert("inUseBy".into(), json!(cert.in_use_by()));
    at.item(
        CERTIFICATE,
        arn,
        cert.domain_name(),
        Some(arn.to_string()),
        tags,
        Value::Object(c),
        Map::new(),
    )
    .map(Some)
}
