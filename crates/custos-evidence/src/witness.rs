//! Witness locations: copies of every checkpoint outside the ledger, so that deleting or
//! rewriting the ledger (and its checkpoints table) cannot also remove what was signed.
//!
//! A copy is named `checkpoint-<id>` (the ledger's checkpoint id, ten digits) and holds
//! the signed note byte for byte. Writing the witness bucket is custos storing its own
//! evidence, not a change to a customer resource, so it lives here and not in the
//! executor.

use crate::{EvidenceError, Result};
use async_trait::async_trait;
use std::fmt;
use std::path::PathBuf;

/// One copy found at a witness.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessCopy {
    pub file: String,
    pub note: Vec<u8>,
}

/// The file name of checkpoint `id` at every witness.
pub fn file_name(id: i64) -> String {
    format!("checkpoint-{id:010}")
}

/// The checkpoint id a witness file name stands for.
pub fn id_of(file: &str) -> Option<i64> {
    let digits = file.strip_prefix("checkpoint-")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[async_trait]
pub trait Witness: Send + Sync + fmt::Debug {
    /// Where the copies go, for reports (`dir /path`, `s3://bucket/prefix`).
    fn location(&self) -> String;
    /// Publish one checkpoint. A copy that exists already is left as it is.
    async fn publish(&self, file: &str, note: &[u8]) -> Result<()>;
    /// Every copy held, by file name.
    async fn copies(&self) -> Result<Vec<WitnessCopy>>;
}

/// A directory (a mounted share, a path another host collects).
#[derive(Debug, Clone)]
pub struct DirWitness {
    pub dir: PathBuf,
}

impl DirWitness {
    fn err(&self, reason: impl fmt::Display) -> EvidenceError {
        EvidenceError::Witness {
            witness: self.location(),
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl Witness for DirWitness {
    fn location(&self) -> String {
        format!("dir {}", self.dir.display())
    }

    async fn publish(&self, file: &str, note: &[u8]) -> Result<()> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| self.err(e))?;
        let path = self.dir.join(file);
        if tokio::fs::try_exists(&path)
            .await
            .map_err(|e| self.err(e))?
        {
            return Ok(());
        }
        // Written aside and renamed, so a reader never sees half a note.
        let tmp = self.dir.join(format!(".{file}.tmp"));
        tokio::fs::write(&tmp, note)
            .await
            .map_err(|e| self.err(e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| self.err(e))
    }

    async fn copies(&self) -> Result<Vec<WitnessCopy>> {
        let mut out = vec![];
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.err(e)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(|e| self.err(e))? {
            let file = entry.file_name().to_string_lossy().to_string();
            if id_of(&file).is_none() {
                continue;
            }
            let note = tokio::fs::read(entry.path())
                .await
                .map_err(|e| self.err(e))?;
            out.push(WitnessCopy { file, note });
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }
}

/// An S3 bucket and key prefix (with Object Lock in production, so copies cannot be
/// deleted by whoever controls custos' database).
#[derive(Debug, Clone)]
pub struct S3Witness {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
}

impl S3Witness {
    fn err(&self, reason: impl fmt::Display) -> EvidenceError {
        EvidenceError::Witness {
            witness: self.location(),
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl Witness for S3Witness {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn publish(&self, file: &str, note: &[u8]) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}{file}", self.prefix))
            .content_type("text/plain; charset=utf-8")
            .body(note.to_vec().into())
            .send()
            .await
            .map_err(|e| self.err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn copies(&self) -> Result<Vec<WitnessCopy>> {
        let mut out = vec![];
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let file = key.strip_prefix(&self.prefix).unwrap_or(key).to_string();
                if id_of(&file).is_none() {
                    continue;
                }
                let body = self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| self.err(aws_sdk_s3::error::DisplayErrorContext(e)))?
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.err(e))?;
                out.push(WitnessCopy {
                    file,
                    note: body.into_bytes().to_vec(),
                });
            }
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_nothing_else_is_a_copy() {
        assert_eq!(file_name(42), "checkpoint-0000000042");
        assert_eq!(id_of("checkpoint-0000000042"), Some(42));
        assert_eq!(id_of("checkpoint-42"), None);
        assert_eq!(id_of(".checkpoint-0000000042.tmp"), None);
    }
}
