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
    /// Publish one checkpoint. A copy that exists already with the same bytes is left as
    /// it is; one with other bytes is an error (a witness copy is never overwritten).
    async fn publish(&self, file: &str, note: &[u8]) -> Result<()> {
        match self.read(file).await? {
            Some(held) if held == note => Ok(()),
            Some(_) => Err(EvidenceError::Witness {
                witness: self.location(),
                reason: format!("holds another `{file}`: a witness copy is never overwritten"),
            }),
            None => self.write(file, note).await,
        }
    }
    /// Write a copy that does not exist yet.
    async fn write(&self, file: &str, note: &[u8]) -> Result<()>;
    /// The names of the copies held (`checkpoint-<id>`).
    async fn names(&self) -> Result<Vec<String>>;
    /// One copy, if held.
    async fn read(&self, file: &str) -> Result<Option<Vec<u8>>>;
    /// Every copy held, by file name.
    async fn copies(&self) -> Result<Vec<WitnessCopy>> {
        let mut out = vec![];
        for file in self.names().await? {
            if let Some(note) = self.read(&file).await? {
                out.push(WitnessCopy { file, note });
            }
        }
        Ok(out)
    }
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

    async fn write(&self, file: &str, note: &[u8]) -> Result<()> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| self.err(e))?;
        // Written aside and renamed, so a reader never sees half a note.
        let tmp = self.dir.join(format!(".{file}.tmp"));
        tokio::fs::write(&tmp, note)
            .await
            .map_err(|e| self.err(e))?;
        tokio::fs::rename(&tmp, self.dir.join(file))
            .await
            .map_err(|e| self.err(e))
    }

    async fn names(&self) -> Result<Vec<String>> {
        let mut out = vec![];
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.err(e)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(|e| self.err(e))? {
            let file = entry.file_name().to_string_lossy().to_string();
            if id_of(&file).is_some() {
                out.push(file);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn read(&self, file: &str) -> Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.dir.join(file)).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
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

    async fn write(&self, file: &str, note: &[u8]) -> Result<()> {
        // Create only (`If-None-Match: *`): a checkpoint once published is never replaced
        // (the Terraform module's bucket policy refuses any other write). Publishing the
        // same note again is not an error; a different one under the same name is.
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}{file}", self.prefix))
            .if_none_match("*")
            .content_type("text/plain; charset=utf-8")
            .body(note.to_vec().into())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                match self.read(file).await? {
                    Some(held) if held == note => Ok(()),
                    _ => Err(self.err(format!(
                        "`{file}` already holds another checkpoint: the witness keeps the first"
                    ))),
                }
            }
            Err(e) => Err(self.err(aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    async fn names(&self) -> Result<Vec<String>> {
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
                let file = key.strip_prefix(&self.prefix).unwrap_or(key);
                if id_of(file).is_some() {
                    out.push(file.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn read(&self, file: &str) -> Result<Option<Vec<u8>>> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(format!("{}{file}", self.prefix))
            .send()
            .await;
        let object = match got {
            Ok(o) => o,
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(self.err(aws_sdk_s3::error::DisplayErrorContext(e))),
        };
        let body = object.body.collect().await.map_err(|e| self.err(e))?;
        Ok(Some(body.into_bytes().to_vec()))
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
