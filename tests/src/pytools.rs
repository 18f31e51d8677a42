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
    run_with(&python(), script, input)
}

/// The Terraform checkers' interpreter (`CUSTOS_TF_PYTHON`: python-hcl2 and checkov).
fn tf_python() -> String {
    std::env::var("CUSTOS_TF_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn run_with(python: &str, script: &str, input: &str) -> String {
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{python}`: {e}"));
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
            "{stderr}\nthe Python checkers are missing: `pip install openapi-spec-validator prometheus-client jsonschema-rs` and set CUSTOS_PYTHON, `pip install python-hcl2 checkov` and set CUSTOS_TF_PYTHON (scripts/test does all)"
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

/// Parse every `.tf` file under `dir` with `python-hcl2` (HashiCorp's grammar as a Python
/// parser); per file, its variables (with whether each has a description and a type),
/// its outputs (with whether each has a description) and the actions of each
/// `aws_iam_policy_document` statement: `{"file": {"variables": {...}, "outputs":
/// {...}, "policies": {"name": [{"sid", "dynamic", "actions"}]}}}`. A file that does not
/// parse fails the test, naming it.
pub fn terraform_files(dir: &std::path::Path) -> serde_json::Value {
    let out = run_with(
        &tf_python(),
        r#"
import json, sys, pathlib, hcl2
root = pathlib.Path(sys.stdin.read().strip())
# python-hcl2 7 wraps each attribute's value in a list of one.
def one(v):
    return v[0] if isinstance(v, list) and len(v) == 1 and isinstance(v[0], (list, str)) else v
out = {}
for p in sorted(root.rglob("*.tf")):
    try:
        doc = hcl2.loads(p.read_text())
    except Exception as e:
        raise SystemExit(f"{p}: does not parse: {e}")
    f = {"variables": {}, "outputs": {}, "policies": {}}
    for block in doc.get("variable", []):
        for name, body in block.items():
            f["variables"][name] = {"description": bool(body.get("description")), "type": "type" in body}
    for block in doc.get("output", []):
        for name, body in block.items():
            f["outputs"][name] = {"description": bool(body.get("description"))}
    for block in doc.get("data", []):
        for name, bodies in block.get("aws_iam_policy_document", {}).items():
            sts = []
            for st in bodies.get("statement", []):
                sts.append({"sid": one(st.get("sid")), "dynamic": False, "actions": one(st.get("actions", []))})
            for dyn in bodies.get("dynamic", []):
                for st in dyn.get("statement", {}).get("content", []):
                    sts.append({"sid": one(st.get("sid")), "dynamic": True, "actions": one(st.get("actions", []))})
            f["policies"][name] = sts
    out[str(p.relative_to(root))] = f
print(json.dumps(out))
"#,
        &dir.display().to_string(),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Run `checkov` (Bridgecrew's policy-as-code scanner, from PyPI) over the Terraform
/// under `dir`: its JSON report.
pub fn checkov(dir: &std::path::Path) -> serde_json::Value {
    let out = Command::new(tf_python())
        .args([
            "-m",
            "checkov.main",
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
            "-d",
        ])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot start checkov with `{}`: {e}", tf_python()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov gave no JSON ({e}); is it installed in CUSTOS_TF_PYTHON's environment (scripts/test installs it)? stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
