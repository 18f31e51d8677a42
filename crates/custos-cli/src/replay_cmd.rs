//! `custos replay`: recorded decisions re-evaluated with their recorded policy and today's.

use crate::build::{self, Needs};
use crate::cli::{EXIT_DAMAGED, EXIT_INVALID, EXIT_OK, Failure, Output};
use chrono::{DateTime, NaiveDate, Utc};

/// An RFC 3339 time or a date (midnight UTC), for `--since` and `--until`.
pub fn parse_time(flag: &str, s: &str) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Failure::msg(
                EXIT_INVALID,
                format!("`{flag} {s}`: give an RFC 3339 time or a date (`2026-11-01`)"),
            )
        })
}

pub async fn replay(
    cfg: Option<&std::path::Path>,
    db: Option<&str>,
    out: Output,
    decision_id: Option<String>,
    all: bool,
    since: Option<String>,
) -> Result<u8, Failure> {
    let since = since
        .as_deref()
        .map(|s| parse_time("--since", s))
        .transpose()?;
    let built = build::engine(cfg, db, Needs::Ledger, "custos").await?;
    let replays = match (decision_id, all) {
        (Some(id), false) => vec![built.engine.replay(&id).await?],
        (None, true) => built.engine.replay_since(since).await?,
        _ => {
            return Err(Failure::msg(
                EXIT_INVALID,
                "give a decision id or `--all` (with `--since` for a period)".into(),
            ));
        }
    };
    match out {
        Output::Json => crate::cli::print_json(&replays)?,
        Output::Table => crate::render::emit(&crate::render::replays(&replays)),
    }
    Ok(if replays.iter().any(|r| r.replayable && !r.reproduced) {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}
