//! Fixtures for issue 25's controls: RDS instances and snapshots (the moto server),
//! public EBS snapshots, images and SSM documents, and IAM users with stale keys
//! (LocalStack).

use aws_config::SdkConfig;

/// RDS on the moto server, in `account`.
pub fn rds(sdk: &SdkConfig, account: &str) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::from(sdk)
            .interceptor(crate::MotoAccount(account.to_string()))
            .build(),
    )
}

pub fn ssm(sdk: &SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(sdk)
}

pub fn iam(sdk: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(sdk)
}

/// A PostgreSQL instance that is public, keeps backups 1 day, has no deletion
/// protection, no automatic minor upgrades and does not copy tags to snapshots; returns
/// its `dbiResourceId` (Config's resource id).
pub async fn make_rds_instance(
    sdk: &SdkConfig,
    account: &str,
    name: &str,
) -> anyhow::Result<String> {
    let db = rds(sdk, account)
        .create_db_instance()
        .db_instance_identifier(name)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("custos")
        .master_user_password("not-a-secret-1")
        .publicly_accessible(true)
        .backup_retention_period(1)
        .deletion_protection(false)
        .auto_minor_version_upgrade(false)
        .copy_tags_to_snapshot(false)
        .send()
        .await?;
    Ok(db
        .db_instance()
        .and_then(|d| d.dbi_resource_id())
        .unwrap_or_default()
        .to_string())
}

/// A manual DB snapshot anyone may restore; returns its identifier.
pub async fn make_public_rds_snapshot(sdk: &SdkConfig, account: &str) -> anyhow::Result<String> {
    let db = format!("snapdb{account}");
    make_rds_instance(sdk, account, &db).await?;
    let id = format!("snap-{account}");
    let c = rds(sdk, account);
    c.create_db_snapshot()
        .db_instance_identifier(&db)
        .db_snapshot_identifier(&id)
        .send()
        .await?;
    c.modify_db_snapshot_attribute()
        .db_snapshot_identifier(&id)
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await?;
    Ok(id)
}

/// Tag an RDS resource (by ARN) behind custos' back.
pub async fn tag_rds(sdk: &SdkConfig, account: &str, arn: &str) -> anyhow::Result<()> {
    rds(sdk, account)
        .add_tags_to_resource()
        .resource_name(arn)
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("custos:exclude")
                .value("true")
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// An EBS snapshot anyone may create volumes from; returns its id.
pub async fn make_public_ebs_snapshot(sdk: &SdkConfig) -> anyhow::Result<String> {
    let ec2 = crate::ec2(sdk);
    let volume = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(1)
        .send()
        .await?;
    let snap = ec2
        .create_snapshot()
        .volume_id(volume.volume_id().unwrap_or_default())
        .send()
        .await?;
    let id = snap.snapshot_id().unwrap_or_default().to_string();
    ec2.modify_snapshot_attribute()
        .snapshot_id(&id)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Add)
        .group_names("all")
        .send()
        .await?;
    Ok(id)
}

/// A machine image of the account's, launchable by anyone; returns its id.
pub async fn make_public_image(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let ec2 = crate::ec2(sdk);
    let instance = crate::make_instance(&ec2).await?;
    // AMI names are unique per account: one left by an earlier run is deregistered.
    let old = ec2
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values(name)
                .build(),
        )
        .send()
        .await?;
    for i in old.images() {
        if let Some(id) = i.image_id() {
            ec2.deregister_image().image_id(id).send().await?;
        }
    }
    let image = ec2
        .create_image()
        .instance_id(instance)
        .name(name)
        .send()
        .await?;
    let id = image.image_id().unwrap_or_default().to_string();
    ec2.modify_image_attribute()
        .image_id(&id)
        .launch_permission(
            aws_sdk_ec2::types::LaunchPermissionModifications::builder()
                .add(
                    aws_sdk_ec2::types::LaunchPermission::builder()
                        .group(aws_sdk_ec2::types::PermissionGroup::All)
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    Ok(id)
}

/// A command document shared with everyone; returns its name. One of that name left by
/// an earlier run (a demo made it private) is replaced.
pub async fn make_public_document(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let c = ssm(sdk);
    if c.describe_document().name(name).send().await.is_ok() {
        // A shared document cannot be deleted: unshare it first (it may be private).
        let _ = c
            .modify_document_permission()
            .name(name)
            .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share)
            .account_ids_to_remove("All")
            .send()
            .await;
        c.delete_document().name(name).send().await?;
    }
    c.create_document()
        .name(name)
        .document_type(aws_sdk_ssm::types::DocumentType::Command)
        .content(
            r#"{"schemaVersion":"2.2","description":"custos fixture","mainSteps":[{"action":"aws:runShellScript","name":"hello","inputs":{"runCommand":["echo hello"]}}]}"#,
        )
        .send()
        .await?;
    c.modify_document_permission()
        .name(name)
        .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share)
        .account_ids_to_add("All")
        .send()
        .await?;
    Ok(name.to_string())
}

/// Tag an SSM document behind custos' back.
pub async fn tag_document(sdk: &SdkConfig, name: &str) -> anyhow::Result<()> {
    ssm(sdk)
        .add_tags_to_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Document)
        .resource_id(name)
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("custos:exclude")
                .value("true")
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// A user with one active access key that was never used; returns the user id
/// (Config's resource id).
pub async fn make_user_with_key(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let c = iam(sdk);
    let user = c.create_user().user_name(name).send().await?;
    c.create_access_key().user_name(name).send().await?;
    Ok(user
        .user()
        .map(|u| u.user_id().to_string())
        .unwrap_or_default())
}

/// A customer managed policy; returns its id.
pub async fn make_customer_policy(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let p = iam(sdk)
        .create_policy()
        .policy_name(name)
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .send()
        .await?;
    Ok(p.policy()
        .and_then(|p| p.policy_id())
        .unwrap_or_default()
        .to_string())
}

/// An ACM certificate requested for `domain`; returns its ARN.
pub async fn make_certificate(sdk: &SdkConfig, domain: &str) -> anyhow::Result<String> {
    let c = aws_sdk_acm::Client::new(sdk)
        .request_certificate()
        .domain_name(domain)
        .send()
        .await?;
    Ok(c.certificate_arn().unwrap_or_default().to_string())
}

/// Tag a certificate behind custos' back.
pub async fn tag_certificate(sdk: &SdkConfig, arn: &str) -> anyhow::Result<()> {
    aws_sdk_acm::Client::new(sdk)
        .add_tags_to_certificate()
        .certificate_arn(arn)
        .tags(
            aws_sdk_acm::types::Tag::builder()
                .key("custos:exclude")
                .value("true")
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// A new VPC's default security group (inbound from itself, all outbound); returns its id.
pub async fn make_default_group(sdk: &SdkConfig) -> anyhow::Result<String> {
    let vpc = crate::services::make_vpc(sdk).await?;
    let ec2 = crate::ec2(sdk);
    let groups = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await?;
    let id = groups
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .ok_or_else(|| anyhow::anyhow!("vpc `{vpc}` has no default group"))?
        .to_string();
    if groups
        .security_groups()
        .first()
        .is_some_and(|g| g.ip_permissions().is_empty())
    {
        // Some emulators leave the default group empty: give it what AWS gives it.
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("-1")
                    .user_id_group_pairs(
                        aws_sdk_ec2::types::UserIdGroupPair::builder()
                            .group_id(&id)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await?;
    }
    Ok(id)
}
