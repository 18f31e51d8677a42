//! Sharing with everyone taken back: public EBS snapshots (FSBP EC2.1), public machine
//! images and public SSM documents (SSM.4). Each fix removes only the public grant
//! (`all`); accounts a resource is shared with by id keep their access, and a rollback
//! grants `all` again. An image may be launched by others' automation: a person approves
//! making it private (class `human`).

use crate::setting::{Setter, Setting, aws, configure};
use crate::{ActionProperties, CliRequest, ExecError, Executor, Operations};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    LaunchPermission, LaunchPermissionModifications, OperationType, PermissionGroup,
    SnapshotAttributeName,
};
use custos_core::{ConfigurationItem, ResourceRef, Risk};
use custos_telemetry::aws::{AwsPool, Clients};
use custos_telemetry::services::ebs::{IMAGE, SNAPSHOT};
use custos_telemetry::services::ssm::DOCUMENT;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn executors(pool: Arc<AwsPool>) -> Vec<Arc<dyn Executor>> {
    vec![
        Setter::boxed(pool.clone(), Private::Snapshot),
        Setter::boxed(pool.clone(), Private::Image),
        Setter::boxed(pool, Private::Document),
    ]
}

/// A resource shared with everyone, made private.
#[derive(Debug, Clone, Copy)]
pub enum Private {
    Snapshot,
    Image,
    Document,
}

const SNAPSHOT_OPS: Operations = Operations::one(
    &["ec2:ModifySnapshotAttribute"],
    &["ec2:ModifySnapshotAttribute"],
);
const IMAGE_OPS: Operations =
    Operations::one(&["ec2:ModifyImageAttribute"], &["ec2:ModifyImageAttribute"]);
const DOCUMENT_OPS: Operations = Operations::one(
    &["ssm:ModifyDocumentPermission"],
    &["ssm:ModifyDocumentPermission"],
);

fn public(ci: &ConfigurationItem, kind: Private) -> bool {
    let s = &ci.supplementary_configuration;
    match kind {
        Private::Snapshot => s
            .get("CreateVolumePermissions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|p| p["group"] == "all"),
        Private::Image => ci.configuration["public"] == true,
        Private::Document => s
            .get("Permissions")
            .and_then(|p| p["AccountIds"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|a| a.eq_ignore_ascii_case("all")),
    }
}

#[async_trait]
impl Setting for Private {
    fn action(&self) -> &'static str {
        match self {
            Private::Snapshot => "ec2:ModifySnapshotAttribute",
            Private::Image => "ec2:ModifyImageAttribute",
            Private::Document => "ssm:ModifyDocumentPermission",
        }
    }
    fn resource_types(&self) -> &'static [&'static str] {
        match self {
            Private::Snapshot => &[SNAPSHOT],
            Private::Image => &[IMAGE],
            Private::Document => &[DOCUMENT],
        }
    }
    fn properties(&self) -> ActionProperties {
        match self {
            Private::Image => configure(Risk::Medium, true),
            _ => configure(Risk::Low, false),
        }
    }
    fn operations(&self) -> Operations {
        match self {
            Private::Snapshot => SNAPSHOT_OPS,
            Private::Image => IMAGE_OPS,
            Private::Document => DOCUMENT_OPS,
        }
    }
    fn parameters(&self) -> &'static [&'static str] {
        &[]
    }
    fn facet(&self, ci: &ConfigurationItem, _params: &Value) -> Value {
        json!({"public": public(ci, *self)})
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
        let grant = to["public"] == true;
        let id = &r.resource_id;
        let req = match self {
            Private::Snapshot => {
                let operation = if grant {
                    OperationType::Add
                } else {
                    OperationType::Remove
                };
                CliRequest::new(
                    "ec2",
                    "modify-snapshot-attribute",
                    json!({
                        "SnapshotId": id,
                        "Attribute": SnapshotAttributeName::CreateVolumePermission.as_str(),
                        "OperationType": operation.as_str(),
                        "GroupNames": ["all"],
                    }),
                )
            }
            Private::Image => {
                let change = if grant { "Add" } else { "Remove" };
                CliRequest::new(
                    "ec2",
                    "modify-image-attribute",
                    json!({
                        "ImageId": id,
                        "LaunchPermission": { change: [{"Group": PermissionGroup::All.as_str()}] },
                    }),
                )
            }
            Private::Document => {
                let accounts = if grant {
                    "AccountIdsToAdd"
                } else {
                    "AccountIdsToRemove"
                };
                CliRequest::new(
                    "ssm",
                    "modify-document-permission",
                    json!({
                        "Name": id,
                        "PermissionType": aws_sdk_ssm::types::DocumentPermissionType::Share.as_str(),
                        accounts: ["All"],
                    }),
                )
            }
        };
        vec![req]
    }
    async fn put(
        &self,
        c: &Clients,
        r: &ResourceRef,
        _from: &Value,
        to: &Value,
        _params: &Value,
    ) -> Result<(), ExecError> {
        let grant = to["public"] == true;
        let id = &r.resource_id;
        match self {
            // LocalStack applies only this form (attribute, operation, group names).
            Private::Snapshot => c
                .ec2
                .modify_snapshot_attribute()
                .snapshot_id(id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(if grant {
                    OperationType::Add
                } else {
                    OperationType::Remove
                })
                .group_names("all")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("ec2:ModifySnapshotAttribute", r, &e)),
            Private::Image => {
                let all = LaunchPermission::builder()
                    .group(PermissionGroup::All)
                    .build();
                let change = if grant {
                    LaunchPermissionModifications::builder().add(all)
                } else {
                    LaunchPermissionModifications::builder().remove(all)
                };
                c.ec2
                    .modify_image_attribute()
                    .image_id(id)
                    .launch_permission(change.build())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws("ec2:ModifyImageAttribute", r, &e))
            }
            Private::Document => {
                let req = c
                    .ssm
                    .modify_document_permission()
                    .name(id)
                    .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share);
                let req = if grant {
                    req.account_ids_to_add("All")
                } else {
                    req.account_ids_to_remove("All")
                };
                req.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws("ssm:ModifyDocumentPermission", r, &e))
            }
        }
    }
}
