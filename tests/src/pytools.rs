//! Independent checkers written by others, run from Python: the OpenAPI validator
//! (`openapi-spec-validator`), Prometheus' own text parser (`prometheus-client`) and a
//! JSON Schema validator whose regular expressions know Unicode classes (`jsonschema-rs`,
//! for NIST's OSCAL schema: Python's `re` cannot compile its `\p{L}`).
//! `scripts/test` installs them in a virtualenv and names its interpreter in
//! `CUSTOS_PYTHON`; without it the tests fail and say how to get them.

use std::io::Write;
use std::process::{Command, Stdio};

fn python() -> String {
    std::env::var("CUSTOS_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Run `script` with `input` on stdin; its stdout. Panics (the test's failure) with the
/// script's stderr when it fails.
pub fn run(script: &str, input: &str) -> String {
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", python()));
    child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin"))
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("writing to python: {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") {
        panic!(
            "{stderr}\nthe Python checkers are missing: `pip install openapi-spec-validator prometheus-client jsonschema-rs` and set CUSTOS_PYTHON (scripts/test does both)"
        );
    }
    assert!(out.status.success(), "python failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Validate an OpenAPI document (JSON) against the specification's schema; the version
/// the validator detected.
pub fn validate_openapi(doc: &str) -> String {
    run(
        "import json,sys\nfrom openapi_spec_validator import validate\nfrom openapi_spec_validator.versions.shortcuts import get_spec_version\nd=json.load(sys.stdin)\nvalidate(d)\nprint(get_spec_version(d))",
        doc,
    )
    .trim()
    .to_string()
}

/// Parse Prometheus text exposition with Prometheus' parser: one JSON line per sample,
/// `{"name", "labels", "value"}`.
pub fn parse_metrics(text: &str) -> Vec<serde_json::Value> {
    let out = run(
        "import json,sys\nfrom prometheus_client.parser import text_string_to_metric_families\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as om\nt=sys.stdin.read()\nlist(om(t))\nfor f in text_string_to_metric_families(t):\n  for s in f.samples:\n    print(json.dumps({'name': s.name, 'labels': s.labels, 'value': s.value, 'type': f.type}))",
        text,
    );
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Every error NIST's OSCAL 1.0.4 assessment-results schema (`tests/fixtures/oscal/`)
/// finds in `doc`, formats checked, as `path: message`.
pub fn oscal_errors(doc: &str) -> Vec<String> {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/oscal/oscal_assessment-results_schema-1.0.4.json");
    let script = format!(
        "import json,sys\nimport jsonschema_rs\nv=jsonschema_rs.validator_for(json.load(open({:?})), validate_formats=True)\nfor e in v.iter_errors(json.load(sys.stdin)):\n  print('/'.join(map(str, e.instance_path)) + ': ' + e.message[:300])",
        schema.display().to_string()
    );
    run(&script, doc).lines().map(str::to_string).collect()
}
