//! What no single resource says about an account in one region: whether any trail
//! records it, whether Config records it. Added to the `AWS::::Account` item (one per
//! account and region, see `ec2::Ec2Scanner`) under `supplementaryConfiguration`:
//!
//! - `Trails`: every trail `DescribeTrails` shows in the region, the shadows of other
//!   regions' multi-region trails included, each `{name, homeRegion,
//!   isMultiRegionTrail, isLogging, managementEvents}` (CloudTrail.1, CIS 3.1);
//! - `ConfigurationRecorders`: the region's recorders, each `{name, recording}`
//!   (Config.1).
//!
//! Their IAM actions are declared with the account item's (`ec2::ACCOUNT_READS`).
//! A part whose read fails is left out, and the controls say nothing about what was not
//! read; the failure is logged as a warning naming the IAM action, so a missing
//! permission shows in the scan's log rather than as a compliant account.

use crate::aws::{Clients, error_code, error_message};
use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
use serde_json::{Map, Value, json};

/// The account's trails and recorders as seen from this region, for the account item.
pub async fn posture(clients: &Clients, account: &str, region: &str) -> Map<String, Value> {
    let mut out = Map::new();
    match trails(clients).await {
        Ok(t) => {
            out.insert("Trails".into(), Value::Array(t));
        }
        Err((action, message)) => unread(action, account, region, &message),
    }
    match recorders(clients).await {
        Ok(r) => {
            out.insert("ConfigurationRecorders".into(), Value::Array(r));
        }
        Err((action, message)) => unread(action, account, region, &message),
    }
    out
}

fn unread(action: &str, account: &str, region: &str, message: &str) {
    tracing::warn!(
        "{action} failed for {account}/{region}: {message}; the account-level trail and recorder checks say nothing for it"
    );
}

type Failed = (&'static str, String);

async fn trails(clients: &Clients) -> Result<Vec<Value>, Failed> {
    let ct = &clients.cloudtrail;
    let listed = ct
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| ("cloudtrail:DescribeTrails", error_message(&e)))?;
    let gone = |code: Option<&str>| code == Some("TrailNotFoundException");
    let mut out = Vec::new();
    for t in listed.trail_list() {
        // A shadow trail is named by its ARN from any region but its home.
        let Some(id) = t.trail_arn().or(t.name()) else {
            continue;
        };
        let status = match ct.get_trail_status().name(id).send().await {
            Ok(s) => s,
            Err(e) if gone(error_code(&e)) => continue,
            Err(e) => return Err(("cloudtrail:GetTrailStatus", error_message(&e))),
        };
        let selectors = match ct.get_event_selectors().trail_name(id).send().await {
            Ok(s) => s,
            Err(e) if gone(error_code(&e)) => continue,
            Err(e) => return Err(("cloudtrail:GetEventSelectors", error_message(&e))),
        };
        out.push(json!({
            "name": t.name(),
            "homeRegion": t.home_region(),
            "isMultiRegionTrail": t.is_multi_region_trail().unwrap_or(false),
            "isLogging": status.is_logging().unwrap_or(false),
            "managementEvents": every_management_event(&selectors),
        }));
    }
    Ok(out)
}

/// Whether the selectors record every management event, reads and writes: a basic
/// selector `All` with management events (its default), or an advanced selector on the
/// `Management` category that does not narrow it to reads or writes.
fn every_management_event(s: &GetEventSelectorsOutput) -> bool {
    let basic = s.event_selectors().iter().any(|e| {
        e.read_write_type().is_none_or(|r| r.as_str() == "All")
            && e.include_management_events().unwrap_or(true)
    });
    let advanced = s.advanced_event_selectors().iter().any(|a| {
        let fields = a.field_selectors();
        fields
            .iter()
            .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"))
            && !fields.iter().any(|f| f.field() == "readOnly")
    });
    basic || advanced
}

async fn recorders(clients: &Clients) -> Result<Vec<Value>, Failed> {
    let cfg = &clients.config;
    let listed = cfg
        .describe_configuration_recorders()
        .send()
        .await
        .map_err(|e| ("config:DescribeConfigurationRecorders", error_message(&e)))?;
    let status = cfg
        .describe_configuration_recorder_status()
        .send()
        .await
        .map_err(|e| {
            (
                "config:DescribeConfigurationRecorderStatus",
                error_message(&e),
            )
        })?;
    Ok(listed
        .configuration_recorders()
        .iter()
        .map(|r| {
            let recording = status
                .configuration_recorders_status()
                .iter()
                .find(|s| s.name() == r.name())
                .is_some_and(|s| s.recording());
            json!({"name": r.name(), "recording": recording})
        })
        .collect())
}
