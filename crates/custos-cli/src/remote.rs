//! The state-changing commands against a running `custos serve` (`--server URL`): the
//! same requests the API documents, the credential sent as a bearer token, the server's
//! error codes mapped to the CLI's exit codes.

use crate::cli::{EXIT_DENIED, EXIT_INVALID, EXIT_REFUSED, EXIT_RUNTIME, Failure};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// The server URL is http(s), and plain http only to this machine (a loopback address or
/// `localhost`) unless `--insecure-http` says otherwise: the bearer credential is sent
/// with every request.
fn check_transport(base: &str, insecure_http: bool) -> Result<(), Failure> {
    let bad = |m: String| Err(Failure::msg(EXIT_INVALID, m));
    let Ok(url) = reqwest::Url::parse(base) else {
        return bad(format!("`--server` must be an http(s) URL, got `{base}`"));
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback || insecure_http {
                Ok(())
            } else {
                bad(format!(
                    "`--server {base}` would send your credential in clear to another host: use https, or pass `--insecure-http` if the network is trusted"
                ))
            }
        }
        _ => bad(format!("`--server` must be an http(s) URL, got `{base}`")),
    }
}

#[derive(Debug, Clone)]
pub struct Remote {
    base: String,
    credential: String,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(base: &str, credential: Option<&str>, insecure_http: bool) -> Result<Self, Failure> {
        let base = base.trim_end_matches('/').to_string();
        check_transport(&base, insecure_http)?;
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

#[cfg(test)]
mod tests {
    use super::check_transport;

    /// Issue 22 item 13: a bearer token is never sent in clear to another host unless
    /// the operator says so.
    #[test]
    fn plain_http_only_to_this_machine_unless_insecure_http() {
        for ok in [
            "https://custos.example.com",
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://[::1]:8080",
            "http://localhost:8080",
        ] {
            assert!(check_transport(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://custos.example.com",
            "http://10.0.0.5:8080",
            "http://localhost.example.com",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            let err = check_transport(refused, false).expect_err(refused);
            assert_eq!(err.code, crate::cli::EXIT_INVALID, "{refused}");
        }
        let err = check_transport("http://custos.example.com", false).unwrap_err();
        assert!(err.error.contains("--insecure-http"), "{}", err.error);
        assert!(check_transport("http://custos.example.com", true).is_ok());
        assert!(check_transport("ftp://custos.example.com", true).is_err());
    }
}
