//! The account's S3 Block Public Access (`AWS::S3::AccountPublicAccessBlock`, FSBP S3.1),
//! read once per account in region [`super::iam::GLOBAL`] (the setting is account-wide);
//! resource id the account id, configuration the four flags as Config records them
//! (all `false` when the account has none).

use super::{At, aws_error};
use crate::TelemetryError;
use crate::aws::error_code;
use custos_core::ConfigurationItem;
use serde_json::{Map, json};
use std::collections::BTreeMap;

pub const ACCOUNT_BLOCK: &str = "AWS::S3::AccountPublicAccessBlock";
pub const READS: &[&str] = &["s3:GetAccountPublicAccessBlock"];

pub async fn read(at: &At) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let answer = at
        .clients
        .s3control
        .get_public_access_block()
        .account_id(&at.account)
        .send()
        .await;
    let flags = match answer {
        Ok(r) => r.public_access_block_configuration().cloned(),
        Err(e) if error_code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(aws_error("s3:GetAccountPublicAccessBlock", &at.account, &e)),
    };
    let flag = |v: Option<bool>| v.unwrap_or(false);
    let configuration = json!({
        "blockPublicAcls": flag(flags.as_ref().and_then(|f| f.block_public_acls())),
        "ignorePublicAcls": flag(flags.as_ref().and_then(|f| f.ignore_public_acls())),
        "blockPublicPolicy": flag(flags.as_ref().and_then(|f| f.block_public_policy())),
        "restrictPublicBuckets": flag(flags.as_ref().and_then(|f| f.restrict_public_buckets())),
    });
    Ok(vec![at.item(
        ACCOUNT_BLOCK,
        &at.account,
        Some(&at.account),
        None,
        BTreeMap::new(),
        configuration,
        Map::new(),
    )?])
}
