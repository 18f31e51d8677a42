//! The state-changing commands against a running `custos serve` (`--server URL`): the
//! same requests the API documents, the credential sent as a bearer token, the server's
//! error codes mapped to the CLI's exit codes.

use crate::cli::{EXIT_DENIED, EXIT_INVALID, EXIT_REFUSED, EXIT_RUNTIME, Failure};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Remote {
    base: String,
    credential: String,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(base: &str, credential: Option<&str>) -> Result<Self, Failure> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Failure::msg(
                EXIT_INVALID,
                format!("`--server` must be an http(s) URL, got `{base}`"),
            ));
        }
        let credential = credential
            .ok_or_else(|| {
                Failure::msg(
                    EXIT_DENIED,
                    "no credential: set CUSTOS_TOKEN or --token-file to talk to a server".into(),
                )
            })?
            .to_string();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Failure::new(EXIT_RUNTIME, e))?;
        Ok(Remote {
            base,
            credential,
            client,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, Failure> {
        let resp = req
            .bearer_auth(&self.credential)
            .send()
            .await
            .map_err(|e| Failure::msg(EXIT_RUNTIME, format!("{what}: {e}")))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| Failure::msg(EXIT_RUNTIME, format!("{what}: {e}")))?;
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            Failure::msg(
                EXIT_RUNTIME,
                format!("{what}: the server answered {status} with a body that is not JSON"),
            )
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        let message = body["error"]["message"].as_str().unwrap_or("");
        let exit = match status.as_u16() {
            401 | 403 => EXIT_DENIED,
            409 => EXIT_REFUSED,
            400 | 404 => EXIT_INVALID,
            _ => EXIT_RUNTIME,
        };
        Err(Failure::msg(exit, format!("{message} ({code})")))
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.get(&url), &url).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.post(&url).json(body), &url).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.put(&url).json(body), &url).await
    }
}

/// A typed field of a server answer.
pub fn field<T: DeserializeOwned>(v: &Value, name: &str) -> Result<T, Failure> {
    serde_json::from_value(v[name].clone()).map_err(|e| {
        Failure::msg(
            EXIT_RUNTIME,
            format!("the server's answer has no readable `{name}`: {e}"),
        )
    })
}

/// Path segments are ids custos made; anything else is refused rather than escaped.
pub fn segment(id: &str) -> Result<&str, Failure> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(Failure::msg(EXIT_INVALID, format!("not an id: `{id}`")))
    }
}
