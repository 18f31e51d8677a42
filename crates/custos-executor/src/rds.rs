//! RDS fixes: DB instance settings through `ModifyDBInstance` (FSBP RDS.2, RDS.8, RDS.11,
//! RDS.13, RDS.17) and public manual snapshots made private (RDS.1). Databases are
//! human-in-the-loop: public access, backups and deletion protection change how an
//! application reaches or keeps its data, so a person approves them (class `human`);
//! minor version upgrades in the maintenance window and tags copied to snapshots are
//! `auto`.

use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::rds::{INSTANCE, SNAPSHOT};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), Instance::PublicAccess),
        Setter::boxed(pool.clone(), Instance::BackupRetention),
        Setter::boxed(pool.clone(), Instance::DeletionProtection),
        Setter::boxed(pool.clone(), Instance::AutoMinorVersionUpgrade),
        Setter::boxed(pool.clone(), Instance::CopyTagsToSnapshot),
        Setter::boxed(pool, SnapshotPrivate),
    ]
}

const MODIFY: Operations = Operations::one(&["rds:ModifyDBInstance"], &["rds:ModifyDBInstance"]);

/// One field of a DB instance, set with `ModifyDBInstance` (applied immediately).
#[derive(Debug, Clone, Copy)]
pub enum Instance {
    /// `PubliclyAccessible` off (RDS.2).
    PublicAccess,
    /// Automated backups kept at least `days` (RDS.11); only ever lengthened.
    BackupRetention,
    /// Deletion protection on (RDS.8).
    DeletionProtection,
    /// Minor engine upgrades in the maintenance window (RDS.13).
    AutoMinorVersionUpgrade,
    /// Tags copied to snapshots (RDS.17).
    CopyTagsToSnapshot,
}

impl Instance {
    /// Config's field name.
    fn field(self) -> &'static str {
        match self {
            Instance::PublicAccess => "publiclyAccessible",
            Instance::BackupRetention => "backupRetentionPeriod",
            Instance::DeletionProtection => "deletionProtection",
            Instance::AutoMinorVersionUpgrade => "autoMinorVersionUpgrade",
            Instance::CopyTagsToSnapshot => "copyTagsToSnapshot",
        }
    }

    /// Whether `ModifyDBInstance` sends `ApplyImmediately`. Only backup retention waits
    /// for the maintenance window without it; sending it also applies whatever else is
    /// pending on the instance (a class change, an upgrade), so the other settings, which
    /// take effect at once, never send it.
    fn immediately(self) -> bool {
        matches!(self, Instance::BackupRetention)
    }
}

/// The retention period `ModifyDBInstance` sends for a facet's value.
fn retention(v: &Value) -> i32 {
    i32::try_from(v.as_i64().unwrap_or(0)).unwrap_or(0)
}

/// Statuses of an instance applying a modification (RDS User Guide, "Viewing Amazon RDS
/// DB instance status"): a setting read then may still be the old one. Not `backing-up`
/// or `maintenance`, which may last hours for reasons of their own: a value this fix
/// sets that has not landed shows under `pendingModifiedValues` then.
const CHANGING: [&str; 3] = ["modifying", "rebooting", "upgrading"];

/// The instance identifier `ModifyDBInstance` needs (the resource id is Config's
/// `dbiResourceId`); part of every facet, never changed.
const NAME: &str = "dBInstanceIdentifier";

#[async_trait]
impl Setting for Instance {
    fn action(&self) -> &'static str {
        match self {
            Instance::PublicAccess => "rds:ModifyDBInstance/public-access",
            Instance::BackupRetention => "rds:ModifyDBInstance/backup-retention",
            Instance::DeletionProtection => "rds:ModifyDBInstance/deletion-protection",
            Instance::AutoMinorVersionUpgrade => "rds:ModifyDBInstance/auto-minor-version-upgrade",
            Instance::CopyTagsToSnapshot => "rds:ModifyDBInstance/copy-tags-to-snapshot",
        }
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[INSTANCE]
    }
    fn properties(&self) -> ActionProperties {
        match self {
            // Clients outside the VPC lose their connection.
            Instance::PublicAccess => configure(Risk::High, true),
            // Turning backups on from 0 takes a backup at once and may pause I/O.
            Instance::BackupRetention => configure(Risk::Medium, true),
            Instance::DeletionProtection => configure(Risk::Low, true),
            Instance::AutoMinorVersionUpgrade => configure(Risk::Low, false),
            Instance::CopyTagsToSnapshot => configure(Risk::Low, false),
        }
    }
    fn operations(&self) -> Operations {
        MODIFY
    }
    fn parameters(&self) -> &'static [&'static str] {
        match self {
            Instance::BackupRetention => &["days"],
            _ => &[],
        }
    }
    fn check(&self, params: &Value) -> Result<(), String> {
        match (self, params.get("days")) {
            (Instance::BackupRetention, Some(d)) => match d.as_i64() {
                Some(1..=35) => Ok(()),
                _ => Err(format!(
                    "`days` must be a whole number from 1 to 35, not `{d}`"
                )),
            },
            _ => Ok(()),
        }
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        let c = &ci.configuration;
        let value = match self {
            Instance::BackupRetention => {
                json!(c.get(self.field()).and_then(Value::as_i64).unwrap_or(0))
            }
            _ => json!(
                c.get(self.field())
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
        };
        json!({NAME: c.get(NAME).cloned().unwrap_or(Value::Null), self.field(): value})
    }
    fn settling(&self, ci: &ConfigurationItem) -> Option<String> {
        // `ModifyDBInstance` answers before the change lands: the instance goes
        // `modifying` (public access, a class change) or holds the value under
        // `pendingModifiedValues` (backup retention) until it does.
        let c = &ci.configuration;
        let status = c
            .get("dBInstanceStatus")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if CHANGING.contains(&status) {
            return Some(format!("instance status `{status}`"));
        }
        c.get("pendingModifiedValues")
            .and_then(|p| p.get(self.field()))
            .filter(|v| !v.is_null())
            .map(|v| format!("`{}` {v} pending", self.field()))
    }
    fn exact(&self, _before: &Value) -> bool {
        // Setting a shorter retention back (or 0) deletes the automated backups taken
        // beyond it since the fix: the setting returns, the backups do not.
        !matches!(self, Instance::BackupRetention)
    }
    fn desired(&self, facet: &Value, params: &Value) -> Value {
        let mut to = facet.clone();
        let value = match self {
            Instance::PublicAccess => json!(false),
            Instance::BackupRetention => {
                let want = params.get("days").and_then(Value::as_i64).unwrap_or(7);
                json!(facet[self.field()].as_i64().unwrap_or(0).max(want))
            }
            _ => json!(true),
        };
        to[self.field()] = value;
        to
    }
    fn cli(
        &self,
        _ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        // `put` sends nothing without the instance's name.
        let Some(name) = to[NAME].as_str() else {
            return Vec::new();
        };
        let v = &to[self.field()];
        let (member, value) = match self {
            Instance::PublicAccess => ("PubliclyAccessible", json!(v == true)),
            Instance::BackupRetention => ("BackupRetentionPeriod", json!(retention(v))),
            Instance::DeletionProtection => ("DeletionProtection", json!(v == true)),
            Instance::AutoMinorVersionUpgrade => ("AutoMinorVersionUpgrade", json!(v == true)),
            Instance::CopyTagsToSnapshot => ("CopyTagsToSnapshot", json!(v == true)),
        };
        vec![CliRequest::new(
            "rds",
            "modify-db-instance",
            json!({
                "DBInstanceIdentifier": name,
                "ApplyImmediately": self.immediately(),
                member: value,
            }),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let Some(name) = to[NAME].as_str() else {
            return Err(ExecError::Aws {
                operation: "rds:ModifyDBInstance",
                resource: r.resource_id.clone(),
                message: "the item names no `dBInstanceIdentifier`".into(),
            });
        };
        let req = c
            .rds
            .modify_db_instance()
            .db_instance_identifier(name)
            .apply_immediately(self.immediately());
        let v = &to[self.field()];
        let req = match self {
            Instance::PublicAccess => req.publicly_accessible(v == true),
            Instance::BackupRetention => req.backup_retention_period(retention(v)),
            Instance::DeletionProtection => req.deletion_protection(v == true),
            Instance::AutoMinorVersionUpgrade => req.auto_minor_version_upgrade(v == true),
            Instance::CopyTagsToSnapshot => req.copy_tags_to_snapshot(v == true),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| aws("rds:ModifyDBInstance", r, &e))
    }
}

/// Whether `all` is among the values of the snapshot's `restore` attribute.
fn public_snapshot(ci: &ConfigurationItem) -> bool {
    ci.supplementary_configuration
        .get("DBSnapshotAttributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a["attributeName"] == "restore")
        .filter_map(|a| a["attributeValues"].as_array())
        .flatten()
        .any(|v| v == "all")
}

/// A public manual DB snapshot made private: `all` removed from who may restore it
/// (RDS.1). Accounts it is shared with by id keep their access.
#[derive(Debug)]
pub struct SnapshotPrivate;

#[async_trait]
impl Setting for SnapshotPrivate {
    fn action(&self) -> &'static str {
        "rds:ModifyDBSnapshotAttribute"
    }
    fn resource_types(&self) -> &'static [&'static str] {
        &[SNAPSHOT]
    }
    fn properties(&self) -> ActionProperties {
        configure(Risk::Low, false)
    }
    fn operations(&self) -> Operations {
        Operations::one(
            &["rds:ModifyDBSnapshotAttribute"],
            &["rds:ModifyDBSnapshotAttribute"],
        )
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        json!({"public": public_snapshot(ci)})
    }
    fn desired(&self, _facet: &Value, _params: &Value) -> Value {
        json!({"public": false})
    }
    fn cli(
        &self,
        ci: &ConfigurationItem,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Vec<CliRequest> {
        let r = &ci.resource_ref();
        let change = if to["public"] == true {
            "ValuesToAdd"
        } else {
            "ValuesToRemove"
        };
        vec![CliRequest::new(
            "rds",
            "modify-db-snapshot-attribute",
            json!({
                "DBSnapshotIdentifier": r.resource_id,
                "AttributeName": "restore",
                change: ["all"],
            }),
        )]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let req = c
            .rds
            .modify_db_snapshot_attribute()
            .db_snapshot_identifier(&r.resource_id)
            .attribute_name("restore");
        let req = if to["public"] == true {
            req.values_to_add("all")
        } else {
            req.values_to_remove("all")
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| aws("rds:ModifyDBSnapshotAttribute", r, &e))
    }
}
