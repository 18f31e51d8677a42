//! Shared AWS SDK set-up: the standard credential and region chain, `AWS_ENDPOINT_URL`
//! honoured, bounded retries and timeouts.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use std::time::Duration;

/// Load the SDK configuration from the environment (profile, env vars, IMDS, ...).
pub async fn load_sdk_config(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    loader.load().await
}

/// An S3 client; path-style addressing when a custom endpoint (LocalStack) is set.
pub fn s3_client(sdk: &SdkConfig, region: Option<&str>) -> aws_sdk_s3::Client {
    let mut b =
        aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some());
    if let Some(r) = region {
        b = b.region(Region::new(r.to_string()));
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// The configuration of clients that send mutating requests: one attempt, never a retry
/// by the SDK. After the guard's fence, one intent is one request on the wire; when its
/// answer is a 500 or a timeout, the state read back decides what happened.
fn sent_once(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

/// The service error code of an SDK error, e.g. `NoSuchBucket`.
pub fn error_code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    err.code()
}

/// A readable message for an SDK error, with its code when there is one.
pub fn error_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    match (err.code(), err.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

/// Where custos looks: one account (optionally through an assumed role) and its regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `None`: the account of the default credentials.
    pub account: Option<String>,
    pub role_arn: Option<String>,
    /// The external id the role's trust policy asks for (`sts:ExternalId`).
    pub external_id: Option<String>,
    pub regions: Vec<String>,
}

/// SDK configurations and clients per (account, region), built lazily and cached.
/// Accounts with a role are reached through STS AssumeRole from the default chain.
///
/// The clients are cached, not only the configurations: an SDK client built from a
/// configuration without an HTTP client gets a fresh one (a new connection pool and TLS
/// set-up), so building one per call cost a TCP connection and a root-certificate parse
/// per request.
#[derive(Debug)]
pub struct AwsPool {
    base: SdkConfig,
    default_account: String,
    roles: std::collections::BTreeMap<String, String>,
    /// account id -> the external id its role asks for.
    external_ids: std::collections::BTreeMap<String, String>,
    /// Interceptors on every client (the contract tests' request recorder).
    interceptors: Vec<SharedInterceptor>,
    regional: tokio::sync::Mutex<std::collections::HashMap<(String, String), Regional>>,
}

/// One client per service custos reads or changes, all built from one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub config: aws_sdk_config::Client,
    pub iam: aws_sdk_iam::Client,
    pub rds: aws_sdk_rds::Client,
    pub acm: aws_sdk_acm::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3control: aws_sdk_s3control::Client,
    pub lambda: aws_sdk_lambda::Client,
}

macro_rules! client {
    ($krate:ident, $sdk:expr, $interceptors:expr) => {{
        let mut b = $krate::config::Builder::from($sdk);
        for i in $interceptors {
            b.push_interceptor(i.clone());
        }
        $krate::Client::from_conf(b.build())
    }};
}

impl Clients {
    fn build(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> Self {
        let mut s3 =
            aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some());
        for i in interceptors {
            s3.push_interceptor(i.clone());
        }
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            ec2: client!(aws_sdk_ec2, sdk, interceptors),
            sqs: client!(aws_sdk_sqs, sdk, interceptors),
            sns: client!(aws_sdk_sns, sdk, interceptors),
            kms: client!(aws_sdk_kms, sdk, interceptors),
            cloudtrail: client!(aws_sdk_cloudtrail, sdk, interceptors),
            logs: client!(aws_sdk_cloudwatchlogs, sdk, interceptors),
            config: client!(aws_sdk_config, sdk, interceptors),
            iam: client!(aws_sdk_iam, sdk, interceptors),
            rds: client!(aws_sdk_rds, sdk, interceptors),
            acm: client!(aws_sdk_acm, sdk, interceptors),
            ssm: client!(aws_sdk_ssm, sdk, interceptors),
            s3control: s3control(sdk, interceptors),
            lambda: client!(aws_sdk_lambda, sdk, interceptors),
        }
    }
}

/// S3 Control's client. S3 Control names the account in the host
/// (`{account}.s3-control.{region}.amazonaws.com`) and does the same to a custom endpoint
/// (`http://{account}.127.0.0.1:4566`), which then names no host; with a custom endpoint
/// (an emulator) the request goes to the endpoint as given, the account still in its
/// `x-amz-account-id` header.
fn s3control(sdk: &SdkConfig, interceptors: &[SharedInterceptor]) -> aws_sdk_s3control::Client {
    let mut b = aws_sdk_s3control::config::Builder::from(sdk);
    for i in interceptors {
        b.push_interceptor(i.clone());
    }
    // The endpoint the SDK uses: S3 Control's own override, else the global one.
    let custom = std::env::var("AWS_ENDPOINT_URL_S3_CONTROL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| sdk.endpoint_url().map(str::to_string));
    if let Some(url) = custom
        && let Some((_, authority)) = url.split_once("://")
    {
        b.push_interceptor(SharedInterceptor::new(AccountHost(
            authority.trim_end_matches('/').to_string(),
        )));
    }
    aws_sdk_s3control::Client::from_conf(b.build())
}

/// Takes the account id off the host of a request to custom endpoint `.0` (see
/// [`s3control`]), before it is signed.
#[derive(Debug)]
struct AccountHost(String);

impl aws_smithy_runtime_api::client::interceptors::Intercept for AccountHost {
    fn name(&self) -> &'static str {
        "custos.s3control-account-host"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_string();
        if let Some(fixed) = without_account(&uri, &self.0) {
            request.set_uri(fixed)?;
        }
        Ok(())
    }
}

/// `scheme://{12 digits}.{authority}/...` as `scheme://{authority}/...`; `None` for any
/// other URI.
fn without_account(uri: &str, authority: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let (account, tail) = rest.split_once('.')?;
    let after = tail.strip_prefix(authority)?;
    (account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (after.is_empty() || after.starts_with('/') || after.starts_with('?')))
    .then(|| format!("{scheme}://{tail}"))
}

/// One (account, region): its configuration and the clients built from it once. Reads
/// go through `read` (retried with backoff and jitter); mutating requests through
/// `once` (never retried).
#[derive(Debug, Clone)]
struct Regional {
    sdk: SdkConfig,
    read: Clients,
    once: Clients,
}

impl AwsPool {
    /// `roles`: account id -> role ARN. The default account is resolved through STS.
    pub async fn new(
        base: SdkConfig,
        roles: std::collections::BTreeMap<String, String>,
    ) -> Result<Self, crate::TelemetryError> {
        let sts = aws_sdk_sts::Client::new(&base);
        let identity =
            sts.get_caller_identity()
                .send()
                .await
                .map_err(|e| crate::TelemetryError::Aws {
                    operation: "sts:GetCallerIdentity",
                    resource: "caller".into(),
                    message: aws_sdk_sts::error::DisplayErrorContext(&e).to_string(),
                })?;
        let default_account = identity
            .account()
            .ok_or_else(|| crate::TelemetryError::Aws {
                operation: "sts:GetCallerIdentity",
                resource: "caller".into(),
                message: "the answer names no account".into(),
            })?
            .to_string();
        Ok(Self::with_account(base, default_account, roles))
    }

    /// Build without asking STS (tests, or when the account is known).
    pub fn with_account(
        base: SdkConfig,
        default_account: String,
        roles: std::collections::BTreeMap<String, String>,
    ) -> Self {
        AwsPool {
            base,
            default_account,
            roles,
            external_ids: std::collections::BTreeMap::new(),
            interceptors: Vec::new(),
            regional: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The external id each account's role asks for (account id -> id).
    pub fn with_external_ids(mut self, ids: std::collections::BTreeMap<String, String>) -> Self {
        self.external_ids = ids;
        self
    }

    /// Put `interceptor` on every client this pool builds (before any is built).
    pub fn with_interceptor(mut self, interceptor: impl Intercept + 'static) -> Self {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    pub fn default_account(&self) -> &str {
        &self.default_account
    }

    pub fn default_region(&self) -> String {
        self.base
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into())
    }

    /// The SDK configuration for `account` in `region`.
    pub async fn sdk(&self, account: &str, region: &str) -> SdkConfig {
        self.regional(account, region).await.sdk
    }

    /// Clients for reads (retried with backoff and jitter).
    pub async fn read(&self, account: &str, region: &str) -> Clients {
        self.regional(account, region).await.read
    }

    /// Clients for mutating requests: each is sent once, never retried by the SDK.
    pub async fn once(&self, account: &str, region: &str) -> Clients {
        self.regional(account, region).await.once
    }

    pub async fn s3(&self, account: &str, region: &str) -> aws_sdk_s3::Client {
        self.regional(account, region).await.read.s3
    }

    pub async fn ec2(&self, account: &str, region: &str) -> aws_sdk_ec2::Client {
        self.regional(account, region).await.read.ec2
    }

    /// An S3 client for mutating requests: each is sent once, never retried by the SDK.
    pub async fn s3_once(&self, account: &str, region: &str) -> aws_sdk_s3::Client {
        self.regional(account, region).await.once.s3
    }

    /// An EC2 client for mutating requests: each is sent once, never retried by the SDK.
    pub async fn ec2_once(&self, account: &str, region: &str) -> aws_sdk_ec2::Client {
        self.regional(account, region).await.once.ec2
    }

    async fn regional(&self, account: &str, region: &str) -> Regional {
        let key = (account.to_string(), region.to_string());
        let mut map = self.regional.lock().await;
        if let Some(r) = map.get(&key) {
            return r.clone();
        }
        // IAM's items are in region `global`, as AWS Config has them; IAM's endpoint is
        // global, and the SDK (and STS, for a member account's role) needs a real region.
        let sdk_region = if region == crate::services::iam::GLOBAL {
            self.default_region()
        } else {
            region.to_string()
        };
        let regional = self
            .base
            .to_builder()
            .region(Region::new(sdk_region))
            .build();
        let sdk = match self.roles.get(account) {
            Some(role) => {
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("custos")
                    .configure(&regional);
                if let Some(id) = self.external_ids.get(account) {
                    builder = builder.external_id(id.clone());
                }
                let provider = builder.build().await;
                regional
                    .to_builder()
                    .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build()
            }
            None => regional,
        };
        let built = Regional {
            read: Clients::build(&sdk, &self.interceptors),
            once: Clients::build(&sent_once(&sdk), &self.interceptors),
            sdk,
        };
        map.insert(key, built.clone());
        built
    }
}

#[cfg(test)]
mod tests {
    use super::without_account;

    #[test]
    fn only_an_account_id_before_the_custom_endpoint_is_taken_off() {
        assert_eq!(
            without_account(
                "http://111122223333.127.0.0.1:4566/v20180820/configuration/publicAccessBlock",
                "127.0.0.1:4566"
            )
            .as_deref(),
            Some("http://127.0.0.1:4566/v20180820/configuration/publicAccessBlock")
        );
        // Not twelve digits, or another host: left as it is.
        assert_eq!(
            without_account("http://bucket.127.0.0.1:4566/x", "127.0.0.1:4566"),
            None
        );
        // Another port that starts alike is another endpoint.
        assert_eq!(
            without_account("http://111122223333.127.0.0.1:45660/x", "127.0.0.1:4566"),
            None
        );
        assert_eq!(
            without_account(
                "https://111122223333.s3-control.us-east-1.amazonaws.com/x",
                "127.0.0.1:4566"
            ),
            None
        );
    }
}
