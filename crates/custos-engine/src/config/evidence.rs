//! `[evidence]`: the checkpoint signing key, the cadence and the witness locations,
//! validated purely. Keys are read when custos starts (the binary's edge); the private key
//! is never in the file and never in the ledger.

use super::raw::EvidenceSection;
use super::sections::Errors;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    /// The name of an environment variable holding the key text.
    Env(String),
    /// The key text itself (public keys only).
    Literal(String),
}

/// Checkpoint signing, cadence and witnesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceSettings {
    /// The private key; without one no checkpoint is written.
    pub signing_key: Option<KeySource>,
    /// The public key `audit verify` checks with (otherwise the signing key's).
    pub public_key: Option<KeySource>,
    /// A checkpoint at least every this many events.
    pub every: u64,
    /// And at least this often, even with no new events.
    pub interval: Duration,
    pub witness_dir: Option<PathBuf>,
    /// `(bucket, prefix)`; the prefix is empty or ends with `/`.
    pub witness_s3: Option<(String, String)>,
}

fn one_of(
    field: &str,
    file: &Option<PathBuf>,
    env: &Option<String>,
    literal: Option<&String>,
    base: &Path,
    e: &mut Errors,
) -> Option<KeySource> {
    let given = [file.is_some(), env.is_some(), literal.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given > 1 {
        e.bad(
            field,
            "give one of the file, the environment variable or the key".into(),
        );
        return None;
    }
    if let Some(v) = env {
        if v.trim().is_empty() {
            e.bad(&format!("{field}_env"), "is empty".into());
            return None;
        }
        return Some(KeySource::Env(v.trim().to_string()));
    }
    if let Some(p) = file {
        return Some(KeySource::File(if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        }));
    }
    literal.map(|k| KeySource::Literal(k.trim().to_string()))
}

pub(crate) fn evidence(raw: &EvidenceSection, base: &Path, e: &mut Errors) -> EvidenceSettings {
    let signing_key = one_of(
        "evidence.signing_key",
        &raw.signing_key_file,
        &raw.signing_key_env,
        None,
        base,
        e,
    );
    let public_key = one_of(
        "evidence.public_key",
        &raw.public_key_file,
        &None,
        raw.public_key.as_ref(),
        base,
        e,
    );
    let every = raw.checkpoint_every.unwrap_or(1000);
    if !(1..=1_000_000).contains(&every) {
        e.bad(
            "evidence.checkpoint_every",
            format!("must be 1 to 1000000, got `{every}`"),
        );
    }
    let minutes = raw.checkpoint_interval_minutes.unwrap_or(60);
    if !(1..=1440).contains(&minutes) {
        e.bad(
            "evidence.checkpoint_interval_minutes",
            format!("must be 1 to 1440, got `{minutes}`"),
        );
    }
    let witness_s3 = raw.witness_s3.as_ref().and_then(|url| {
        let parsed = s3_url(url);
        if parsed.is_none() {
            e.bad(
                "evidence.witness_s3",
                format!("must be `s3://bucket/prefix`, got `{url}`"),
            );
        }
        parsed
    });
    if (raw.witness_dir.is_some() || witness_s3.is_some()) && signing_key.is_none() {
        e.bad(
            "evidence.signing_key_file",
            "witnesses are configured but no signing key: give `signing_key_file` or `signing_key_env`".into(),
        );
    }
    EvidenceSettings {
        signing_key,
        public_key,
        every: every.clamp(1, 1_000_000) as u64,
        interval: Duration::from_secs(60 * minutes.clamp(1, 1440) as u64),
        witness_dir: raw.witness_dir.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        }),
        witness_s3,
    }
}

/// `s3://bucket/prefix` into the bucket and a prefix that is empty or ends with `/`.
pub fn s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.trim().strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    Some((bucket.to_string(), prefix))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(toml_text: &str) -> (EvidenceSettings, Vec<String>) {
        let raw: EvidenceSection = toml::from_str(toml_text).unwrap();
        let mut e = Errors {
            file: "c.toml".into(),
            list: Vec::new(),
        };
        let s = evidence(&raw, Path::new("/etc/custos"), &mut e);
        let errors = e
            .list
            .iter()
            .map(|x| format!("{}: {}", x.field, x.message))
            .collect();
        (s, errors)
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let (_, errors) = check(
            "signing_key_file = \"k\"\nsigning_key_env = \"K\"\ncheckpoint_every = 0\ncheckpoint_interval_minutes = 2000\nwitness_s3 = \"https://b\"\n",
        );
        assert_eq!(
            errors,
            [
                "evidence.signing_key: give one of the file, the environment variable or the key",
                "evidence.checkpoint_every: must be 1 to 1000000, got `0`",
                "evidence.checkpoint_interval_minutes: must be 1 to 1440, got `2000`",
                "evidence.witness_s3: must be `s3://bucket/prefix`, got `https://b`",
            ]
        );
        let (_, errors) = check("witness_dir = \"w\"\n");
        assert_eq!(
            errors,
            [
                "evidence.signing_key_file: witnesses are configured but no signing key: give `signing_key_file` or `signing_key_env`"
            ]
        );
    }

    #[test]
    fn defaults_and_relative_paths() {
        let (s, errors) = check(
            "signing_key_file = \"keys/custos.key\"\nwitness_dir = \"/srv/witness\"\nwitness_s3 = \"s3://evidence/custos/prod\"\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            s.signing_key,
            Some(KeySource::File("/etc/custos/keys/custos.key".into()))
        );
        assert_eq!((s.every, s.interval), (1000, Duration::from_secs(3600)));
        assert_eq!(s.witness_dir, Some("/srv/witness".into()));
        assert_eq!(
            s.witness_s3,
            Some(("evidence".into(), "custos/prod/".into()))
        );
        assert_eq!(s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(s3_url("s3:///x"), None);
        let (s, _) = check("");
        assert_eq!((s.signing_key, s.public_key), (None, None));
    }
}
