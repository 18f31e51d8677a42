//! Fixtures for the resource-policy controls (`s3-bucket-policy-public`,
//! `sqs-queue-policy-public`, `sns-topic-policy-public` on LocalStack,
//! `lambda-function-public-access` on the moto server): each resource's policy has one
//! statement that lets anyone in (`Anyone`) and one for the account alone (`Account`). The
//! oracle reads a policy back straight from the emulator, not through custos' scanner.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// The statement that lets anyone in (its `Sid` is `Anyone`).
fn anyone(action: &str, resource: &str) -> Value {
    json!({"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": action, "Resource": resource})
}

/// A statement for the account's own principals (its `Sid` is `Account`).
fn account_only(account: &str, action: &str, resource: &str) -> Value {
    json!({"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": action, "Resource": resource})
}

/// A bucket whose policy lets anyone read its objects; returns its name.
pub async fn make_public_bucket_policy(
    sdk: &SdkConfig,
    account: &str,
    name: &str,
) -> anyhow::Result<String> {
    let s3 = crate::s3(sdk);
    s3.create_bucket().bucket(name).send().await?;
    let objects = format!("arn:aws:s3:::{name}/*");
    let doc = json!({"Version": "2012-10-17", "Statement": [
        anyone("s3:GetObject", &objects),
        account_only(account, "s3:PutObject", &objects),
    ]});
    s3.put_bucket_policy()
        .bucket(name)
        .policy(doc.to_string())
        .send()
        .await?;
    Ok(name.to_string())
}

/// A queue whose policy lets anyone send to it; returns its URL.
pub async fn make_public_queue(
    sdk: &SdkConfig,
    account: &str,
    name: &str,
) -> anyhow::Result<String> {
    let arn = format!("arn:aws:sqs:us-east-1:{account}:{name}");
    let doc = json!({"Version": "2012-10-17", "Statement": [
        anyone("sqs:SendMessage", &arn),
        account_only(account, "sqs:ReceiveMessage", &arn),
    ]});
    Ok(aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::Policy, doc.to_string())
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_string())
}

/// A topic whose policy is SNS's default plus a statement letting anyone publish;
/// returns its ARN.
pub async fn make_public_topic(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let sns = crate::services::sns(sdk);
    let arn = sns
        .create_topic()
        .name(name)
        .send()
        .await?
        .topic_arn()
        .unwrap_or_default()
        .to_string();
    let mut doc = topic_policy(sdk, &arn).await?;
    let statements = match doc.get_mut("Statement") {
        Some(Value::Array(a)) => a,
        _ => anyhow::bail!("the new topic `{arn}` has no statement list: {doc}"),
    };
    statements.push(anyone("SNS:Publish", &arn));
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Policy")
        .attribute_value(doc.to_string())
        .send()
        .await?;
    Ok(arn)
}

/// A topic's policy as SNS answers it.
pub async fn topic_policy(sdk: &SdkConfig, arn: &str) -> anyhow::Result<Value> {
    let attrs = crate::services::sns(sdk)
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await?;
    let text = attrs
        .attributes()
        .and_then(|a| a.get("Policy"))
        .ok_or_else(|| anyhow::anyhow!("topic `{arn}` answered no policy"))?;
    Ok(serde_json::from_str(text)?)
}

/// The policy of `resource_type` `id` as the emulator answers it (`null`: none).
pub async fn policy(r: &custos_core::ResourceRef, sdk: &SdkConfig) -> anyhow::Result<Value> {
    let (resource_type, id) = (r.resource_type.as_str(), r.resource_id.as_str());
    let text = match resource_type {
        "AWS::S3::Bucket" => match crate::s3(sdk).get_bucket_policy().bucket(id).send().await {
            Ok(r) => r.policy().map(str::to_string),
            Err(e)
                if aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                    == Some("NoSuchBucketPolicy") =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        },
        "AWS::SQS::Queue" => aws_sdk_sqs::Client::new(sdk)
            .get_queue_attributes()
            .queue_url(id)
            .attribute_names(QueueAttributeName::Policy)
            .send()
            .await?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::Policy))
            .cloned(),
        "AWS::SNS::Topic" => return topic_policy(sdk, id).await,
        "AWS::Lambda::Function" => {
            match lambda(sdk, &r.account)
                .get_policy()
                .function_name(id)
                .send()
                .await
            {
                Ok(r) => r.policy().map(str::to_string),
                Err(e)
                    if aws_sdk_lambda::error::ProvideErrorMetadata::code(&e)
                        == Some("ResourceNotFoundException") =>
                {
                    None
                }
                Err(e) => return Err(e.into()),
            }
        }
        other => anyhow::bail!("no policy fixture for `{other}`"),
    };
    Ok(match text.filter(|t| !t.is_empty()) {
        Some(t) => serde_json::from_str(&t)?,
        None => Value::Null,
    })
}

/// The `Sid`s of a policy's statements, in order.
pub fn sids(doc: &Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["Sid"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A function on the moto server whose policy lets anyone invoke it (`Anyone`), lets
/// Amazon S3 invoke it for a bucket named `uploads-<account>` of any account (`Uploads`:
/// no `AWS:SourceAccount`), and lets the account's own principals invoke it (`Account`);
/// returns its name. Its execution role is made on moto's IAM, which moto's Lambda checks.
pub async fn make_public_function(
    sdk: &SdkConfig,
    account: &str,
    name: &str,
) -> anyhow::Result<String> {
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(sdk)
            .endpoint_url(crate::moto_endpoint())
            .interceptor(crate::MotoAccount(account.to_string()))
            .build(),
    );
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let role = iam
        .create_role()
        .role_name(format!("{name}-role"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await?
        .role()
        .map(|r| r.arn().to_string())
        .unwrap_or_default();
    let lambda = lambda(sdk, account);
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(EMPTY_ZIP.to_vec()))
                .build(),
        )
        .send()
        .await?;
    lambda
        .add_permission()
        .function_name(name)
        .statement_id("Anyone")
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await?;
    lambda
        .add_permission()
        .function_name(name)
        .statement_id("Uploads")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn(format!("arn:aws:s3:::uploads-{account}"))
        .send()
        .await?;
    lambda
        .add_permission()
        .function_name(name)
        .statement_id("Account")
        .action("lambda:InvokeFunction")
        .principal(format!("arn:aws:iam::{account}:root"))
        .send()
        .await?;
    Ok(name.to_string())
}

/// An empty zip archive (its end-of-central-directory record alone): the function's code
/// is never run.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Lambda on the moto server, in `account`.
pub fn lambda(sdk: &SdkConfig, account: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(sdk)
            .interceptor(crate::MotoAccount(account.to_string()))
            .build(),
    )
}

/// A policy's statements by `Sid`, and its other fields: a policy built from permissions
/// lists them in the order they were added, which a rollback changes.
pub fn by_sid(doc: &Value) -> Value {
    let mut out = doc.clone();
    if let Some(list) = doc["Statement"].as_array() {
        out["Statement"] = Value::Object(
            list.iter()
                .map(|s| (s["Sid"].as_str().unwrap_or_default().to_string(), s.clone()))
                .collect(),
        );
    }
    out
}
