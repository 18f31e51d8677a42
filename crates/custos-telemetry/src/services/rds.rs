//! RDS DB instances (`AWS::RDS::DBInstance`: resource id the `dbiResourceId`, name the
//! instance identifier, as Config records them) and the account's manual DB snapshots
//! (`AWS::RDS::DBSnapshot`: resource id and name the snapshot identifier). Field names
//! are Config's (`dBInstanceIdentifier`, `multiAZ`, `iAMDatabaseAuthenticationEnabled`).
//! A snapshot's `supplementaryConfiguration.DBSnapshotAttributes` is Config's too (who
//! may restore it: `all` among the `restore` values is public).

use super::{At, aws_error, put};
use crate::TelemetryError;
use crate::aws::error_code;
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Filter, Tag};
use custos_core::ConfigurationItem;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const INSTANCE: &str = "AWS::RDS::DBInstance";
pub const SNAPSHOT: &str = "AWS::RDS::DBSnapshot";
pub const INSTANCE_READS: &[&str] = &["rds:DescribeDBInstances"];
pub const SNAPSHOT_READS: &[&str] = &[
    "rds:DescribeDBSnapshots",
    "rds:DescribeDBSnapshotAttributes",
];

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn time(t: Option<&aws_sdk_rds::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| {
        t.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

fn not_found(code: Option<&str>) -> bool {
    matches!(code, Some("DBInstanceNotFound" | "DBSnapshotNotFound"))
}

/// Every DB instance, or the one whose `dbiResourceId` is `only`.
pub async fn instances(
    at: &At,
    only: Option<&str>,
) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let mut req = at
            .clients
            .rds
            .describe_db_instances()
            .set_marker(marker)
            .max_records(100);
        if let Some(id) = only {
            req = req.filters(Filter::builder().name("dbi-resource-id").values(id).build());
        }
        let page = match req.send().await {
            Ok(p) => p,
            Err(e) if not_found(error_code(&e)) => return Ok(out),
            Err(e) => {
                return Err(aws_error(
                    "rds:DescribeDBInstances",
                    only.unwrap_or("db instances"),
                    &e,
                ));
            }
        };
        for db in page.db_instances() {
            if let Some(ci) = instance(at, db)? {
                out.push(ci);
            }
        }
        marker = page.marker().filter(|t| !t.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok(out)
}

fn instance(at: &At, db: &DbInstance) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let (Some(id), Some(name)) = (db.dbi_resource_id(), db.db_instance_identifier()) else {
        return Ok(None);
    };
    let mut c = Map::new();
    c.insert("dBInstanceIdentifier".into(), json!(name));
    c.insert("dbiResourceId".into(), json!(id));
    put(&mut c, "dBInstanceArn", db.db_instance_arn());
    put(&mut c, "dBInstanceClass", db.db_instance_class());
    put(&mut c, "dBInstanceStatus", db.db_instance_status());
    put(&mut c, "dBClusterIdentifier", db.db_cluster_identifier());
    put(&mut c, "dBName", db.db_name());
    put(&mut c, "engine", db.engine());
    put(&mut c, "engineVersion", db.engine_version());
    put(&mut c, "allocatedStorage", db.allocated_storage());
    put(&mut c, "storageType", db.storage_type());
    put(&mut c, "availabilityZone", db.availability_zone());
    put(&mut c, "masterUsername", db.master_username());
    put(&mut c, "kmsKeyId", db.kms_key_id());
    put(
        &mut c,
        "instanceCreateTime",
        time(db.instance_create_time()),
    );
    put(
        &mut c,
        "preferredBackupWindow",
        db.preferred_backup_window(),
    );
    put(
        &mut c,
        "preferredMaintenanceWindow",
        db.preferred_maintenance_window(),
    );
    c.insert(
        "publiclyAccessible".into(),
        json!(db.publicly_accessible().unwrap_or(false)),
    );
    c.insert(
        "storageEncrypted".into(),
        json!(db.storage_encrypted().unwrap_or(false)),
    );
    c.insert(
        "backupRetentionPeriod".into(),
        json!(db.backup_retention_period().unwrap_or(0)),
    );
    c.insert(
        "deletionProtection".into(),
        json!(db.deletion_protection().unwrap_or(false)),
    );
    c.insert(
        "autoMinorVersionUpgrade".into(),
        json!(db.auto_minor_version_upgrade().unwrap_or(false)),
    );
    c.insert("multiAZ".into(), json!(db.multi_az().unwrap_or(false)));
    c.insert(
        "iAMDatabaseAuthenticationEnabled".into(),
        json!(db.iam_database_authentication_enabled().unwrap_or(false)),
    );
    c.insert(
        "copyTagsToSnapshot".into(),
        json!(db.copy_tags_to_snapshot().unwrap_or(false)),
    );
    c.insert(
        "enabledCloudwatchLogsExports".into(),
        json!(db.enabled_cloudwatch_logs_exports()),
    );
    let groups: Vec<Value> = db
        .vpc_security_groups()
        .iter()
        .map(|g| json!({"vpcSecurityGroupId": g.vpc_security_group_id(), "status": g.status()}))
        .collect();
    c.insert("vpcSecurityGroups".into(), json!(groups));
    if let Some(e) = db.endpoint() {
        let mut ep = Map::new();
        put(&mut ep, "address", e.address());
        put(&mut ep, "port", e.port());
        put(&mut ep, "hostedZoneId", e.hosted_zone_id());
        c.insert("endpoint".into(), Value::Object(ep));
    }
    // What a modification not yet applied will set (a fix waits for it to land).
    if let Some(p) = db.pending_modified_values() {
        let mut pending = Map::new();
        put(
            &mut pending,
            "backupRetentionPeriod",
            p.backup_retention_period(),
        );
        put(&mut pending, "dBInstanceClass", p.db_instance_class());
        put(&mut pending, "engineVersion", p.engine_version());
        put(&mut pending, "multiAZ", p.multi_az());
        put(&mut pending, "allocatedStorage", p.allocated_storage());
        put(&mut pending, "storageType", p.storage_type());
        put(
            &mut pending,
            "iAMDatabaseAuthenticationEnabled",
            p.iam_database_authentication_enabled(),
        );
        if !pending.is_empty() {
            c.insert("pendingModifiedValues".into(), Value::Object(pending));
        }
    }
    let arn = db.db_instance_arn().map(str::to_string);
    at.item(
        INSTANCE,
        id,
        Some(name),
        arn,
        tags(db.tag_list()),
        Value::Object(c),
        Map::new(),
    )
    .map(Some)
}

/// The account's manual DB snapshots (automated ones cannot be shared), or the one
/// named `only`.
pub async fn snapshots(
    at: &At,
    only: Option<&str>,
) -> Result<Vec<ConfigurationItem>, TelemetryError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = match at
            .clients
            .rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .set_db_snapshot_identifier(only.map(str::to_string))
            .set_marker(marker)
            .max_records(100)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if not_found(error_code(&e)) => return Ok(out),
            Err(e) => {
                return Err(aws_error(
                    "rds:DescribeDBSnapshots",
                    only.unwrap_or("db snapshots"),
                    &e,
                ));
            }
        };
        for s in page.db_snapshots() {
            if let Some(ci) = snapshot(at, s).await? {
                out.push(ci);
            }
        }
        marker = page.marker().filter(|t| !t.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok(out)
}

async fn snapshot(at: &At, s: &DbSnapshot) -> Result<Option<ConfigurationItem>, TelemetryError> {
    let Some(id) = s.db_snapshot_identifier() else {
        return Ok(None);
    };
    let attrs = match at
        .clients
        .rds
        .describe_db_snapshot_attributes()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(a) => a,
        Err(e) if not_found(error_code(&e)) => return Ok(None),
        Err(e) => return Err(aws_error("rds:DescribeDBSnapshotAttributes", id, &e)),
    };
    let attributes: Vec<Value> = attrs
        .db_snapshot_attributes_result()
        .map(|r| r.db_snapshot_attributes())
        .unwrap_or_default()
        .iter()
        .map(|a| json!({"attributeName": a.attribute_name(), "attributeValues": a.attribute_values()}))
        .collect();
    let mut c = Map::new();
    c.insert("dBSnapshotIdentifier".into(), json!(id));
    put(&mut c, "dBSnapshotArn", s.db_snapshot_arn());
    put(&mut c, "dBInstanceIdentifier", s.db_instance_identifier());
    put(&mut c, "dbiResourceId", s.dbi_resource_id());
    put(&mut c, "engine", s.engine());
    put(&mut c, "engineVersion", s.engine_version());
    put(&mut c, "snapshotType", s.snapshot_type());
    put(&mut c, "status", s.status());
    put(&mut c, "allocatedStorage", s.allocated_storage());
    put(&mut c, "kmsKeyId", s.kms_key_id());
    put(&mut c, "snapshotCreateTime", time(s.snapshot_create_time()));
    c.insert("encrypted".into(), json!(s.encrypted().unwrap_or(false)));
    let mut supplementary = Map::new();
    supplementary.insert("DBSnapshotAttributes".into(), json!(attributes));
    at.item(
        SNAPSHOT,
        id,
        Some(id),
        s.db_snapshot_arn().map(str::to_string),
        tags(s.tag_list()),
        Value::Object(c),
        supplementary,
    )
    .map(Some)
}
