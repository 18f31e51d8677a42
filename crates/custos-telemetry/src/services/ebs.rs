//! EBS volumes (`AWS::EC2::Volume`), snapshots (`AWS::EC2::Snapshot`, owned by the
//! account; Config's schemas have no file for it, the fields follow the volume's) and
//! machine images (`AWS::EC2::Image`, owned by the account: custos's own type, in
//! Config's style, since AWS Config records no AMIs).
//!
//! Addition: a snapshot's `supplementaryConfiguration.CreateVolumePermissions` (who may
//! create volumes from it: `{"group": "all"}` is public), from
//! `ec2:DescribeSnapshotAttribute`.

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_ec2::types::Tag;
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const VOLUME: &str = "AWS::EC2::Volume";
pub const SNAPSHOT: &str = "AWS::EC2::Snapshot";
pub const VOLUME_READS: &[&str] = &["ec2:DescribeVolumes"];
pub const IMAGE: &str = "AWS::EC2::Image";
pub const SNAPSHOT_READS: &[&str] = &["ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute"];
pub const IMAGE_READS: &[&str] = &["ec2:DescribeImages"];

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn time(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| {
        t.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

fn not_found(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "InvalidVolume.NotFound"
                | "InvalidSnapshot.NotFound"
                | "InvalidAMIID.NotFound"
                | "InvalidAMIID.Unavailable"
        )
    )
}

pub async fn volumes(
    at: &At,
    only: Option<&str>,
) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match at
            .clients
            .ec2
            .describe_volumes()
            .set_volume_ids(only.map(|v| vec![v.to_string()]))
            .set_next_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if not_found(error_code(&e)) => return Ok(out),
            Err(e) => {
                return Err(aws_error(
                    "ec2:DescribeVolumes",
                    only.unwrap_or("volumes"),
                    &e,
                ));
            }
        };
        for v in page.volumes() {
            let Some(id) = v.volume_id() else { continue };
            let mut cfg = Map::new();
            cfg.insert("volumeId".into(), json!(id));
            cfg.insert("encrypted".into(), json!(v.encrypted().unwrap_or(false)));
            put(&mut cfg, "kmsKeyId", v.kms_key_id());
            put(&mut cfg, "size", v.size());
            put(&mut cfg, "volumeType", v.volume_type().map(|t| t.as_str()));
            put(&mut cfg, "availabilityZone", v.availability_zone());
            put(&mut cfg, "createTime", time(v.create_time()));
            put(
                &mut cfg,
                "snapshotId",
                v.snapshot_id().filter(|s| !s.is_empty()),
            );
            if let Some(s) = v.state() {
                cfg.insert("state".into(), json!({"value": s.as_str()}));
            }
            let attachments: Vec<Value> = v
                .attachments()
                .iter()
                .map(|a| json!({"instanceId": a.instance_id(), "device": a.device(), "volumeId": a.volume_id(), "deleteOnTermination": a.delete_on_termination(), "state": a.state().map(|s| s.as_str())}))
                .collect();
            cfg.insert("attachments".into(), json!(attachments));
            let arn = format!("arn:aws:ec2:{}:{}:volume/{id}", at.region, at.account);
            out.push(at.item(
                VOLUME,
                id,
                None,
                Some(arn),
                tags(v.tags()),
                Value::Object(cfg),
                Map::new(),
            )?);
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

pub async fn snapshots(
    at: &At,
    only: Option<&str>,
) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match at
            .clients
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .set_snapshot_ids(only.map(|v| vec![v.to_string()]))
            .set_next_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if not_found(error_code(&e)) => return Ok(out),
            Err(e) => {
                return Err(aws_error(
                    "ec2:DescribeSnapshots",
                    only.unwrap_or("snapshots"),
                    &e,
                ));
            }
        };
        for s in page.snapshots() {
            let Some(id) = s.snapshot_id() else { continue };
            // Owned by the account only (an emulator answers `self` with every account's).
            if s.owner_id().is_some_and(|o| o != at.account) {
                continue;
            }
            let mut cfg = Map::new();
            cfg.insert("snapshotId".into(), json!(id));
            cfg.insert("encrypted".into(), json!(s.encrypted().unwrap_or(false)));
            put(&mut cfg, "kmsKeyId", s.kms_key_id());
            put(&mut cfg, "volumeId", s.volume_id());
            put(&mut cfg, "volumeSize", s.volume_size());
            put(&mut cfg, "ownerId", s.owner_id());
            put(&mut cfg, "description", s.description());
            put(&mut cfg, "startTime", time(s.start_time()));
            put(&mut cfg, "state", s.state().map(|x| x.as_str()));
            let arn = format!("arn:aws:ec2:{}::snapshot/{id}", at.region);
            let Some(permissions) = volume_permissions(at, id).await? else {
                continue;
            };
            let mut supplementary = Map::new();
            supplementary.insert("CreateVolumePermissions".into(), permissions);
            out.push(at.item(
                SNAPSHOT,
                id,
                None,
                Some(arn),
                tags(s.tags()),
                Value::Object(cfg),
                supplementary,
            )?);
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Who may create volumes from a snapshot (`None`: the snapshot is gone).
async fn volume_permissions(at: &At, id: &str) -> Result<Option<Value>, TelemetryError> {
    let out = match at
        .clients
        .ec2
        .describe_snapshot_attribute()
        .snapshot_id(id)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if not_found(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("ec2:DescribeSnapshotAttribute", id, &e)),
    };
    Ok(Some(json!(permission_list(
        out.create_volume_permissions()
            .iter()
            .map(|p| (p.group().map(|g| g.as_str()), p.user_id()))
    ))))
}

/// Launch or volume permissions as `{"group": "all"}` / `{"userId": ..}` entries.
pub(crate) fn permission_list<'a>(
    entries: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Vec<Value> {
    entries
        .filter_map(|(group, user)| match (group, user) {
            (Some(g), _) => Some(json!({"group": g})),
            (None, Some(u)) => Some(json!({"userId": u})),
            (None, None) => None,
        })
        .collect()
}

/// The account's own machine images.
pub async fn images(at: &At, only: Option<&str>) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match at
            .clients
            .ec2
            .describe_images()
            .owners("self")
            .set_image_ids(only.map(|v| vec![v.to_string()]))
            .set_next_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if not_found(error_code(&e)) => return Ok(out),
            Err(e) => {
                return Err(aws_error(
                    "ec2:DescribeImages",
                    only.unwrap_or("images"),
                    &e,
                ));
            }
        };
        for i in page.images() {
            let Some(id) = i.image_id() else { continue };
            if i.owner_id().is_some_and(|o| o != at.account) {
                continue;
            }
            let mut cfg = Map::new();
            cfg.insert("imageId".into(), json!(id));
            cfg.insert("public".into(), json!(i.public().unwrap_or(false)));
            put(&mut cfg, "name", i.name());
            put(&mut cfg, "description", i.description());
            put(&mut cfg, "ownerId", i.owner_id());
            put(&mut cfg, "creationDate", i.creation_date());
            put(&mut cfg, "state", i.state().map(|x| x.as_str()));
            put(&mut cfg, "imageType", i.image_type().map(|x| x.as_str()));
            let arn = format!("arn:aws:ec2:{}::image/{id}", at.region);
            out.push(at.item(
                IMAGE,
                id,
                i.name(),
                Some(arn),
                tags(i.tags()),
                Value::Object(cfg),
                Map::new(),
            )?);
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}
