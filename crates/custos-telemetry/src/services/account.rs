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
//! A trail another account owns (an organization trail seen from a member account)
//! may refuse its status or selectors to this account: those fields are `null`
//! (unknown), and the controls count such a trail as possibly complete rather than
//! raising an alarm about it. A list that cannot be read at all is left out and its IAM
//! action and message go to `supplementaryConfiguration.Unread`; the controls report
//! that as a finding of its own ("could not be read"), never as compliance.

use crate::aws::{Clients, error_code, error_message};
use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
use serde_json::{Map, Value, json};

/// The account's trails and recorders as seen from this region, for the account item.
pub async fn posture(clients: &Clients, account: &str, region: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut unread = Vec::new();
    match trails(clients, account).await {
        Ok(t) => {
            out.insert("Trails".into(), Value::Array(t));
        }
        Err(e) => unread.push(e),
    }
    match recorders(clients).await {
        Ok(r) => {
            out.insert("ConfigurationRecorders".into(), Value::Array(r));
        }
        Err(e) => unread.push(e),
    }
    if !unread.is_empty() {
        for (action, message) in &unread {
            tracing::warn!("{action} failed for {account}/{region}: {message}");
        }
        let list: Vec<Value> = unread
            .into_iter()
            .map(|(action, message)| {
                // Bounded: an error message is the service's, not ours.
                let message: String = message.chars().take(300).collect();
                json!({"action": action, "message": message})
            })
            .collect();
        out.insert("Unread".into(), Value::Array(list));
    }
    out
}

type Failed = (&'static str, String);

async fn trails(clients: &Clients, account: &str) -> Result<Vec<Value>, Failed> {
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
        // Another account's trail (an organization trail seen from a member account)
        // may refuse its details: unknown, never "off".
        let foreign = t.is_organization_trail() == Some(true)
            || t.trail_arn()
                .is_some_and(|arn| arn.split(':').nth(4) != Some(account));
        let logging = match ct.get_trail_status().name(id).send().await {
            Ok(s) => Value::Bool(s.is_logging().unwrap_or(false)),
            Err(_) if foreign => Value::Null,
            Err(e) if gone(error_code(&e)) => continue,
            Err(e) => return Err(("cloudtrail:GetTrailStatus", error_message(&e))),
        };
        let management = match ct.get_event_selectors().trail_name(id).send().await {
            Ok(s) => Value::Bool(every_management_event(&s)),
            Err(_) if foreign => Value::Null,
            Err(e) if gone(error_code(&e)) => continue,
            Err(e) => return Err(("cloudtrail:GetEventSelectors", error_message(&e))),
        };
        out.push(json!({
            "name": t.name(),
            "homeRegion": t.home_region(),
            "isMultiRegionTrail": t.is_multi_region_trail().unwrap_or(false),
            "isOrganizationTrail": t.is_organization_trail().unwrap_or(false),
            "isLogging": logging,
            "managementEvents": management,
        }));
    }
    Ok(out)
}

/// Whether the selectors record every management event, reads and writes, from every
/// source (what AWS Config's `multi-region-cloudtrail-enabled` rule asks): a basic
/// selector `All` with management events (its defaults) and no excluded sources, or an
/// advanced selector on the `Management` category narrowed neither to reads or writes
/// nor by event source.
fn every_management_event(s: &GetEventSelectorsOutput) -> bool {
    let basic = s.event_selectors().iter().any(|e| {
        e.read_write_type().is_none_or(|r| r.as_str() == "All")
            && e.include_management_events().unwrap_or(true)
            && e.exclude_management_event_sources().is_empty()
    });
    let advanced = s.advanced_event_selectors().iter().any(|a| {
        let fields = a.field_selectors();
        fields
            .iter()
            .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"))
            && !fields
                .iter()
                .any(|f| f.field() == "readOnly" || f.field() == "eventSource")
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
    // The status only adds detail (`config-recorder-on` reads it per recorder): without
    // it the list still says whether a recorder exists.
    let status = cfg
        .describe_configuration_recorder_status()
        .send()
        .await
        .ok();
    Ok(listed
        .configuration_recorders()
        .iter()
        .map(|r| {
            let recording = status.as_ref().map(|st| {
                st.configuration_recorders_status()
                    .iter()
                    .find(|s| s.name() == r.name())
                    .is_some_and(|s| s.recording())
            });
            json!({"name": r.name(), "recording": recording})
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::every_management_event;
    use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
    use aws_sdk_cloudtrail::types::{
        AdvancedEventSelector, AdvancedFieldSelector, EventSelector, ReadWriteType,
    };

    fn basic(rw: Option<ReadWriteType>, mgmt: Option<bool>, exclude: &[&str]) -> bool {
        let mut e = EventSelector::builder();
        if let Some(rw) = rw {
            e = e.read_write_type(rw);
        }
        if let Some(m) = mgmt {
            e = e.include_management_events(m);
        }
        for x in exclude {
            e = e.exclude_management_event_sources(*x);
        }
        every_management_event(
            &GetEventSelectorsOutput::builder()
                .event_selectors(e.build())
                .build(),
        )
    }

    fn field(name: &str, equals: &[&str], not_equals: &[&str]) -> AdvancedFieldSelector {
        let mut f = AdvancedFieldSelector::builder().field(name);
        for v in equals {
            f = f.equals(*v);
        }
        for v in not_equals {
            f = f.not_equals(*v);
        }
        f.build().unwrap()
    }

    fn advanced(fields: Vec<AdvancedFieldSelector>) -> bool {
        let a = AdvancedEventSelector::builder()
            .set_field_selectors(Some(fields))
            .build()
            .unwrap();
        every_management_event(
            &GetEventSelectorsOutput::builder()
                .advanced_event_selectors(a)
                .build(),
        )
    }

    #[test]
    fn basic_selectors_need_all_management_events_from_every_source() {
        assert!(basic(None, None, &[]), "the defaults record everything");
        assert!(basic(Some(ReadWriteType::All), Some(true), &[]));
        assert!(!basic(Some(ReadWriteType::WriteOnly), Some(true), &[]));
        assert!(!basic(Some(ReadWriteType::All), Some(false), &[]));
        assert!(!basic(
            Some(ReadWriteType::All),
            Some(true),
            &["kms.amazonaws.com"]
        ));
        assert!(!every_management_event(
            &GetEventSelectorsOutput::builder().build()
        ));
    }

    #[test]
    fn advanced_selectors_need_the_whole_management_category() {
        assert!(advanced(vec![field("eventCategory", &["Management"], &[])]));
        assert!(!advanced(vec![field("eventCategory", &["Data"], &[])]));
        assert!(!advanced(vec![
            field("eventCategory", &["Management"], &[]),
            field("readOnly", &["false"], &[]),
        ]));
        assert!(!advanced(vec![
            field("eventCategory", &["Management"], &[]),
            field("eventSource", &[], &["kms.amazonaws.com"]),
        ]));
    }
}
