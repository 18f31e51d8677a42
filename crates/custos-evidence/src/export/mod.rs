//! `custos evidence export`: what the ledger shows about one framework's requirements
//! over a period, as OSCAL assessment results, CSV or JSON.
//!
//! The export reads the period's events three times, a page at a time: once to settle
//! where every resource and control stands at the end of the period ([`collect`]), then
//! to stream one observation per evaluation, then the assessment log. Only the standing
//! (one entry per resource and control) is held in memory, never the events.
//!
//! A requirement is *satisfied* only when at least one resource a mapped control applies
//! to was evaluated in the period and every such resource passed its latest evaluation or
//! was fixed (and the fix verified by reading the resource back) after it. A requirement
//! nothing was evaluated for is *not satisfied* with reason `not-assessed`: finding
//! nothing is not evidence that nothing is wrong.

mod collect;
mod oscal;
mod table;

pub use collect::{Assessment, ControlInfo, Standing, Subject};

use crate::keys::PublicKey;
use crate::{EvidenceError, Result};
use chrono::{DateTime, Utc};
use custos_ledger::Ledger;
use custos_ledger::merkle::CheckpointRow;
use sha2::{Digest as _, Sha256};
use std::io::Write;

/// Events read per page.
pub const PAGE: i64 = 1000;

/// A framework custos maps its controls to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Framework {
    Cis,
    Nist80053,
    Nist800171,
    FedrampModerate,
    CmmcL2,
}

impl Framework {
    pub const ALL: [Framework; 5] = [
        Framework::Cis,
        Framework::Nist80053,
        Framework::Nist800171,
        Framework::FedrampModerate,
        Framework::CmmcL2,
    ];

    /// The name on the command line.
    pub fn arg(self) -> &'static str {
        match self {
            Framework::Cis => "cis",
            Framework::Nist80053 => "nist-800-53",
            Framework::Nist800171 => "nist-800-171",
            Framework::FedrampModerate => "fedramp-moderate",
            Framework::CmmcL2 => "cmmc-l2",
        }
    }

    /// The key of the mapping in each control's metadata (`rego/controls/*.rego`).
    pub fn key(self) -> &'static str {
        match self {
            Framework::Cis => "cis-aws-foundations-v3.0",
            Framework::Nist80053 => "nist-800-53-r5",
            Framework::Nist800171 => "nist-800-171-r2",
            Framework::FedrampModerate => "fedramp-moderate",
            Framework::CmmcL2 => "cmmc-2.0-l2",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Framework::Cis => "CIS Amazon Web Services Foundations Benchmark v3.0.0",
            Framework::Nist80053 => "NIST SP 800-53 Rev. 5",
            Framework::Nist800171 => "NIST SP 800-171 Rev. 2",
            Framework::FedrampModerate => "FedRAMP Rev. 5 Moderate baseline",
            Framework::CmmcL2 => "CMMC 2.0 Level 2",
        }
    }

    pub fn parse(s: &str) -> Option<Framework> {
        Framework::ALL.into_iter().find(|f| f.arg() == s)
    }

    /// The requirement as an OSCAL control id (a token: a letter first). NIST 800-53 and
    /// FedRAMP use the ids of NIST's OSCAL catalog (`AC-6(9)` -> `ac-6.9`); CMMC's are
    /// tokens already; CIS and 800-171 numbers get a prefix (`2.1.4` -> `cis-2.1.4`,
    /// `3.1.1` -> `sp800-171-3.1.1`). The id as published stays in the `label` property.
    ///
    /// Whatever an operator's overlay maps to ends up a valid token: a character other
    /// than a letter, digit, `.`, `-` or `_` becomes `_`, and an id that does not start
    /// with a letter or `_` gets the prefix `req-`.
    pub fn oscal_id(self, requirement: &str) -> String {
        let id = match self {
            Framework::Nist80053 | Framework::FedrampModerate => requirement
                .trim()
                .to_ascii_lowercase()
                .replace('(', ".")
                .replace(')', ""),
            Framework::CmmcL2 => requirement.trim().to_string(),
            Framework::Cis => format!("cis-{}", requirement.trim()),
            Framework::Nist800171 => format!("sp800-171-{}", requirement.trim()),
        };
        let id: String = id
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        match id.chars().next() {
            Some(c) if c.is_alphabetic() || c == '_' => id,
            _ => format!("req-{id}"),
        }
    }
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oscal,
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "oscal" => Some(Format::Oscal),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Oscal => "oscal",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// The period and the framework.
#[derive(Debug, Clone)]
pub struct Request {
    pub framework: Framework,
    /// Inclusive; `None` from the first event on.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: DateTime<Utc>,
    pub format: Format,
    /// When the export is made.
    pub generated: DateTime<Utc>,
    /// custos' version, for the document's metadata.
    pub tool_version: String,
    /// Events read per page ([`PAGE`]).
    pub page: i64,
}

/// The policy in force now: its controls are reviewed even when nothing was evaluated.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub policy_digest: String,
    pub controls: Vec<custos_policy::ControlMeta>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
    pub events: u64,
    pub evaluations: u64,
    pub requirements: usize,
    pub satisfied: usize,
    pub not_satisfied: usize,
    pub not_assessed: usize,
    pub open_risks: usize,
    /// The newest leaf of the period, if any event was in it.
    pub last_index: Option<i64>,
    /// The signed checkpoint the export names (size), if any.
    pub checkpoint_size: Option<u64>,
    /// Whether that checkpoint covers every exported event.
    pub anchored: bool,
}

/// The period's events a page at a time, in leaf order. Every pass after the first stops
/// at the leaf the first one ended at, so that events recorded meanwhile (a run, the
/// export's own record) cannot make the passes disagree.
pub(crate) struct Pages<'a> {
    ledger: &'a Ledger,
    req: &'a Request,
    after: i64,
    upto: Option<i64>,
}

impl<'a> Pages<'a> {
    pub(crate) fn new(ledger: &'a Ledger, req: &'a Request, upto: Option<i64>) -> Self {
        Pages {
            ledger,
            req,
            after: -1,
            upto,
        }
    }

    /// The next page; `None` after the last.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<custos_ledger::Event>>> {
        let mut page = self
            .ledger
            .events_between(
                self.req.since.as_ref(),
                &self.req.until,
                self.after,
                self.req.page,
            )
            .await?;
        if let Some(upto) = self.upto {
            page.retain(|e| e.index <= upto);
        }
        Ok(page.last().map(|l| l.index).map(|i| {
            self.after = i;
            page
        }))
    }
}

/// Counts bytes and hashes them on the way through.
pub(crate) struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) fn io(e: std::io::Error) -> EvidenceError {
    EvidenceError::Export(format!("cannot write the export: {e}"))
}

/// The newest checkpoint whose signature verifies with `key` (without a key: the newest
/// row, which the document then calls unverified).
async fn anchor(ledger: &Ledger, key: Option<&PublicKey>) -> Result<Option<(CheckpointRow, bool)>> {
    Ok(match key {
        Some(key) => crate::checkpoint::newest_verified(ledger, key)
            .await?
            .map(|c| (c, true)),
        None => ledger.latest_checkpoint().await?.map(|c| (c, false)),
    })
}

/// Write the export of `req` to `out`.
pub async fn export<W: Write>(
    ledger: &Ledger,
    req: &Request,
    baseline: &Baseline,
    key: Option<&PublicKey>,
    out: W,
) -> Result<Written> {
    let checkpoint = anchor(ledger, key).await?;
    let a = collect::collect(ledger, req, baseline, checkpoint).await?;
    let mut w = Hashing {
        inner: out,
        hash: Sha256::new(),
        bytes: 0,
    };
    match req.format {
        Format::Oscal => oscal::write(ledger, req, &a, &mut w).await?,
        Format::Csv => table::csv(req, &a, &mut w)?,
        Format::Json => table::json(ledger, req, &a, &mut w).await?,
    }
    w.flush().map_err(io)?;
    let counts = a.requirement_counts();
    Ok(Written {
        bytes: w.bytes,
        sha256: format!("sha256:{}", hex::encode(w.hash.finalize())),
        events: a.events,
        evaluations: a.evaluations,
        requirements: a.requirements.len(),
        satisfied: counts.0,
        not_satisfied: counts.1,
        not_assessed: counts.2,
        open_risks: a.open().count(),
        last_index: a.last_index,
        checkpoint_size: a.checkpoint.as_ref().map(|(c, _)| c.size),
        anchored: a.anchored(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_ids_become_oscal_tokens() {
        assert_eq!(Framework::Nist80053.oscal_id("AC-6(9)"), "ac-6.9");
        assert_eq!(Framework::FedrampModerate.oscal_id("SC-28"), "sc-28");
        assert_eq!(Framework::Cis.oscal_id("2.1.4"), "cis-2.1.4");
        assert_eq!(
            Framework::Nist800171.oscal_id("3.13.16"),
            "sp800-171-3.13.16"
        );
        assert_eq!(Framework::CmmcL2.oscal_id("SC.L2-3.13.16"), "SC.L2-3.13.16");
        // An overlay's ids still make tokens.
        assert_eq!(Framework::Nist80053.oscal_id("AC-2(1)(a)"), "ac-2.1.a");
        assert_eq!(Framework::CmmcL2.oscal_id("3.1.1"), "req-3.1.1");
        assert_eq!(Framework::Nist80053.oscal_id("SC-7 (5)"), "sc-7_.5");
        assert_eq!(Framework::CmmcL2.oscal_id(""), "req-");
        for f in Framework::ALL {
            assert_eq!(Framework::parse(f.arg()), Some(f));
        }
    }
}
