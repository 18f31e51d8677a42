//! The export as a spreadsheet (CSV: one row per requirement, control and resource) and
//! as custos' own JSON (the same rows by requirement, then every evaluation, streamed).

use super::collect::{Assessment, Subject};
use super::oscal::{each_event, open_object, time, upto};
use super::{Request, io};
use crate::{EvidenceError, Result};
use serde_json::{Value, json};
use std::io::Write;

pub const JSON_FORMAT: &str = "custos-export/1";

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first, OWASP's list) gets a leading apostrophe, so it is shown as text.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some(
            '=' | '+' | '-' | '@' | '\t' | '\r' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}',
        ) => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

const HEADER: [&str; 16] = [
    "framework",
    "requirement",
    "requirement_status",
    "control",
    "control_title",
    "severity",
    "resource",
    "resource_type",
    "account",
    "region",
    "standing",
    "evaluated_at",
    "evaluation_event",
    "fix_action",
    "fixed_at",
    "remarks",
];

/// A row: a (resource, control) of the requirement, or a mapped control nothing was
/// evaluated for.
enum Row<'a> {
    Subject(&'a Subject),
    Unassessed(&'a str),
}

fn row(req: &Request, a: &Assessment, requirement: &str, status: &str, r: Row<'_>) -> Vec<String> {
    let s = match r {
        Row::Subject(s) => Some(s),
        Row::Unassessed(_) => None,
    };
    let parts = super::collect::key_parts(s.map_or("", |s| s.resource.as_str()));
    let control = match r {
        Row::Subject(s) => s.control.as_str(),
        Row::Unassessed(c) => c,
    };
    let info = a.controls.get(control);
    let fix = s.and_then(|s| s.fix.as_ref());
    let remarks = match s {
        None => format!("not assessed: nothing `{control}` applies to was evaluated in the period"),
        Some(s) => match (&s.error, fix, &s.reverted) {
            (Some(e), _, _) => format!("could not be evaluated: {e}"),
            (None, Some(f), _) => f.verification.clone(),
            (None, None, Some(r)) => format!("fix {r} was rolled back"),
            _ => String::new(),
        },
    };
    vec![
        req.framework.key().to_string(),
        requirement.to_string(),
        status.to_string(),
        control.to_string(),
        info.map(|i| i.title.clone()).unwrap_or_default(),
        info.map(|i| i.severity.clone()).unwrap_or_default(),
        s.map(|s| s.resource.clone()).unwrap_or_default(),
        parts[2].to_string(),
        parts[0].to_string(),
        parts[1].to_string(),
        s.map(|s| s.standing().as_str())
            .unwrap_or("not-assessed")
            .to_string(),
        s.map(|s| time(&s.last.at)).unwrap_or_default(),
        s.map(|s| s.last.id.clone()).unwrap_or_default(),
        fix.map(|f| f.action_id.clone()).unwrap_or_default(),
        fix.map(|f| time(&f.at)).unwrap_or_default(),
        remarks,
    ]
}

fn csv_error(e: csv::Error) -> EvidenceError {
    EvidenceError::Export(format!("cannot write the export: {e}"))
}

pub(super) fn csv<W: Write>(req: &Request, a: &Assessment, w: &mut W) -> Result<()> {
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(w);
    out.write_record(HEADER).map_err(csv_error)?;
    for (requirement, subjects) in a.by_requirement() {
        let status = a.status(requirement, &subjects).as_str();
        let rows: Vec<Vec<String>> = subjects
            .iter()
            .map(|s| row(req, a, requirement, status, Row::Subject(s)))
            .chain(
                a.unassessed(requirement, &subjects)
                    .into_iter()
                    .map(|c| row(req, a, requirement, status, Row::Unassessed(c))),
            )
            .collect();
        for r in rows {
            out.write_record(r.iter().map(|c| spreadsheet_safe(c).into_owned()))
                .map_err(csv_error)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}

pub(super) async fn json<W: Write>(
    ledger: &custos_ledger::Ledger,
    req: &Request,
    a: &Assessment,
    w: &mut W,
) -> Result<()> {
    let requirements: Vec<Value> = a
        .by_requirement()
        .into_iter()
        .map(|(r, subjects)| {
            json!({
                "id": r,
                "oscal_id": req.framework.oscal_id(r),
                "status": a.status(r, &subjects),
                "unassessed_controls": a.unassessed(r, &subjects),
                "controls": a.requirements.get(r),
                "subjects": subjects.iter().map(|s| json!({
                    "resource": s.resource, "control": s.control, "standing": s.standing(),
                    "evaluation": s.last, "failing_since": s.failing_since, "fix": s.fix,
                    "reverted": s.reverted, "error": s.error,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let head = json!({
        "format": JSON_FORMAT,
        "framework": req.framework.key(),
        "since": req.since.as_ref().map(time),
        "until": time(&req.until),
        "generated": time(&req.generated),
        "generated_by": format!("custos {}", req.tool_version),
        "events": a.events,
        "evaluations": a.evaluations,
        "last_index": a.last_index,
        "policies": a.policies,
        "policy_in_force": a.current_policy,
        "checkpoint": a.checkpoint.as_ref().map(|(c, verified)| json!({
            "size": c.size, "root": c.root, "at": time(&c.at), "note": c.note, "verified": verified, "covers_period": a.anchored(),
        })),
        "controls": a.controls,
        "requirements": requirements,
    });
    w.write_all(open_object(&head)?.as_bytes()).map_err(io)?;
    // Every evaluation of the period, streamed.
    w.write_all(b",\"evaluation_events\":[").map_err(io)?;
    let mut first = true;
    each_event(ledger, req, upto(a), |e| {
        if e.kind != "resource.evaluated" {
            return Ok(());
        }
        if !first {
            w.write_all(b",").map_err(io)?;
        }
        first = false;
        serde_json::to_writer(
            &mut *w,
            &json!({
                "id": e.id, "index": e.index, "hash": e.hash, "at": time(&e.at),
                "run_id": e.run_id, "resource": e.resource,
                "controls": e.payload["controls"], "failing": e.payload["failing"],
                "fixes": a.fixes_after.get(&e.id),
            }),
        )
        .map_err(|e| io(e.into()))
    })
    .await?;
    w.write_all(b"]}\n").map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_cells_are_shown_as_text() {
        for hostile in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "＝1",
        ] {
            let safe = spreadsheet_safe(hostile);
            assert!(safe.starts_with('\''), "{hostile:?} -> {safe:?}");
            assert_eq!(&safe[1..], hostile);
        }
        assert_eq!(spreadsheet_safe("AWS::S3::Bucket"), "AWS::S3::Bucket");
        assert_eq!(spreadsheet_safe(""), "");
    }

    #[test]
    fn hostile_names_reach_the_spreadsheet_as_text() {
        use super::super::Framework;
        use super::super::collect::{Assessment, ControlInfo, tests::subject};
        let mut s = subject(true, false, false);
        s.resource = "1/us-east-1/AWS::IAM::Role/=HYPERLINK(\"http://evil\",\"x\")".into();
        s.control = "c".into();
        let info = ControlInfo {
            id: "c".into(),
            title: "@SUM(1+1)".into(),
            severity: "high".into(),
            resource_types: vec!["AWS::IAM::Role".into()],
            requirements: vec!["-1".into()],
        };
        let a = Assessment::of(Framework::Cis, vec![info], vec![s]);
        let req = Request {
            framework: Framework::Cis,
            since: None,
            until: chrono::Utc::now(),
            format: super::super::Format::Csv,
            generated: chrono::Utc::now(),
            tool_version: "0".into(),
            page: 10,
        };
        let mut out = vec![];
        csv(&req, &a, &mut out).unwrap();
        let mut reader = ::csv::Reader::from_reader(out.as_slice());
        let rows: Vec<::csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1);
        let row: Vec<&str> = rows[0].iter().collect();
        assert_eq!(row[1], "'-1");
        assert_eq!(row[4], "'@SUM(1+1)");
        // The key starts with the account: the name inside it cannot start a cell.
        assert_eq!(
            row[6],
            "1/us-east-1/AWS::IAM::Role/=HYPERLINK(\"http://evil\",\"x\")"
        );
        assert_eq!(row[13], "", "no fix");
    }
}
