//! A Rego unit-test runner: every `test_*` rule in `*_test.rego` files must be true.

use crate::bundle::{FLOOR_TEST_PATH, FLOOR_TEST_REGO, PolicyBundle};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct TestCase {
    pub file: String,
    pub name: String,
    pub passed: bool,
    pub error: Option<String>,
    pub micros: u128,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TestReport {
    pub cases: Vec<TestCase>,
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
    pub fn ok(&self) -> bool {
        self.failed() == 0 && !self.cases.is_empty()
    }
}

impl PolicyBundle {
    /// Run every Rego test in the bundle's `*_test.rego` files.
    /// Run every Rego test in the bundle's `*_test.rego` files, and the compiled floor's
    /// own tests.
    pub fn run_tests(&self) -> TestReport {
        let mut report = TestReport::default();
        run_in(
            self.floor.clone(),
            &[(FLOOR_TEST_PATH.to_string(), FLOOR_TEST_REGO.to_string())],
            &mut report,
        );
        run_in(self.engine.clone(), &self.test_files, &mut report);
        report
    }
}

fn run_in(mut engine: regorus::Engine, files: &[(String, String)], report: &mut TestReport) {
    {
        let mut tests = Vec::new();
        for (path, text) in files {
            match engine.add_policy(path.clone(), text.clone()) {
                Ok(pkg) => {
                    for name in test_rule_names(text) {
                        tests.push((path.clone(), format!("{pkg}.{name}"), name));
                    }
                }
                Err(e) => report.cases.push(TestCase {
                    file: path.clone(),
                    name: "<parse>".into(),
                    passed: false,
                    error: Some(e.to_string()),
                    micros: 0,
                }),
            }
        }
        for (file, rule, name) in tests {
            let start = Instant::now();
            engine.set_input(regorus::Value::new_object());
            let result = engine.eval_rule(rule);
            let micros = start.elapsed().as_micros();
            let (passed, error) = match result {
                Ok(v) if v == regorus::Value::from(true) => (true, None),
                Ok(regorus::Value::Undefined) => {
                    (false, Some("undefined (a condition failed)".into()))
                }
                Ok(v) => (false, Some(format!("evaluated to `{v}`"))),
                Err(e) => (false, Some(e.to_string())),
            };
            report.cases.push(TestCase {
                file,
                name,
                passed,
                error,
                micros,
            });
        }
    }
}

fn test_rule_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test_")?;
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            Some(format!("test_{ident}"))
        })
        .collect();
    names.dedup();
    names
}
