#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // shared test helpers

use custos_testkit::{child_env, unique_account};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub account: String,
    /// Where the child's AWS calls go (a fault proxy), instead of LocalStack itself.
    pub endpoint: Option<String>,
    /// The ledger's URL when it is not the SQLite file in `dir` (a Postgres database).
    pub database: Option<String>,
    /// API tokens issued in this ledger, by principal.
    pub tokens: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

/// The roles of the test principals, by name.
pub fn roles_of(name: &str) -> &'static [&'static str] {
    match name {
        "admin" => &["policy_admin"],
        "alice" => &["reviewer", "operator"],
        "bob" | "carol" => &["reviewer"],
        "olivia" => &["operator"],
        "audrey" => &["auditor"],
        "root" => &["policy_admin", "reviewer"],
        other => panic!("no test principal `{other}`"),
    }
}

/// Every test principal (made by the first `principals bootstrap`).
pub const TEAM: [&str; 7] = ["admin", "alice", "bob", "carol", "olivia", "audrey", "root"];

/// `(name, token)` for each member `principals bootstrap` printed a token for.
pub fn bootstrap_tokens(out: &Output) -> Vec<(String, String)> {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let mut found = vec![];
    for pair in lines.windows(2) {
        if let Some(rest) = pair[0].strip_prefix("token for `") {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            assert!(pair[1].starts_with("cst_"), "no token after: {}", pair[0]);
            found.push((name, pair[1].trim().to_string()));
        }
    }
    assert!(!found.is_empty(), "no token in: {stdout}");
    found
}

/// The token text printed by `principals bootstrap` / `tokens create` (its last line).
pub fn token_in(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let t = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(t.starts_with("cst_"), "no token in: {stdout}");
    t
}

/// The default autonomy block of the test configuration.
pub const AUTONOMY: &str = "[autonomy]\ndefault = 3\n[autonomy.classes.s3]\n\"*\" = 4\n";

/// The `custos` binary under test (`CUSTOS_TEST_BIN` runs the same tests against
/// another build, e.g. an older commit's).
pub fn bin() -> String {
    std::env::var("CUSTOS_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_custos").to_string())
}

impl Env {
    pub fn new() -> Env {
        Env::with_config("")
    }

    /// A fresh account and ledger; `extra` is appended to the configuration file.
    pub fn with_config(extra: &str) -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            account: unique_account(),
            endpoint: None,
            database: None,
            tokens: Default::default(),
        };
        env.write_config(extra);
        env
    }

    /// The child's AWS calls go through `url` (a fault proxy in front of LocalStack).
    pub fn via(mut self, url: &str) -> Env {
        self.endpoint = Some(url.to_string());
        self
    }

    pub fn write_config(&self, extra: &str) {
        self.write_config_with(AUTONOMY, extra);
    }

    /// The configuration with another autonomy block.
    pub fn write_config_with(&self, autonomy: &str, extra: &str) {
        let cfg = format!(
            "[policy]\ndir = {:?}\n[playbooks]\ndir = {:?}\n[database]\nurl = {:?}\n{autonomy}{extra}",
            repo().join("rego"),
            repo().join("playbooks"),
            self.database.clone().unwrap_or_else(|| self
                .dir
                .path()
                .join("ledger.db")
                .display()
                .to_string()),
        );
        std::fs::write(self.dir.path().join("custos.toml"), cfg).unwrap();
    }

    /// A `custos` command with this environment, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--config").arg(self.config()).args(args);
        cmd.env_remove("CUSTOS_DATABASE_URL")
            .env_remove("CUSTOS_CONFIG")
            .env_remove("CUSTOS_TOKEN");
        for (k, v) in child_env(&self.account) {
            cmd.env(k, v);
        }
        if let Some(url) = &self.endpoint {
            cmd.env("AWS_ENDPOINT_URL", url);
        }
        cmd
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("custos.toml")
    }

    pub fn custos(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The API token of a test principal (see [`roles_of`]), created on first use by a
    /// bootstrapped policy admin.
    pub fn token(&self, name: &str) -> String {
        if let Some(t) = self.tokens.borrow().get(name) {
            return t.clone();
        }
        if self.tokens.borrow().get("admin").is_none() {
            // The first team in one step: reviewers and admins made later would wait for
            // a second principal's confirmation (`principals confirm`).
            let members: Vec<String> = TEAM
                .iter()
                .filter(|n| **n != "admin")
                .map(|n| format!("--member={n}={}", roles_of(n).join(",")))
                .collect();
            let mut args = vec!["principals", "bootstrap", "--name", "admin"];
            args.extend(members.iter().map(String::as_str));
            let out = self.custos(&args);
            for (who, t) in bootstrap_tokens(&out) {
                self.tokens.borrow_mut().insert(who, t);
            }
        }
        match self.tokens.borrow().get(name) {
            Some(t) => t.clone(),
            None => panic!("no test principal `{name}`"),
        }
    }

    /// A command run with `name`'s token in `CUSTOS_TOKEN`.
    pub fn command_as(&self, name: &str, args: &[&str]) -> Command {
        let token = self.token(name);
        let mut cmd = self.command(args);
        cmd.env("CUSTOS_TOKEN", token);
        cmd
    }

    pub fn custos_as(&self, name: &str, args: &[&str]) -> Output {
        self.command_as(name, args).output().unwrap()
    }

    pub fn json_as(&self, name: &str, args: &[&str]) -> Value {
        self.json_with(Some(name), args, None)
    }

    pub fn json_exit_as(&self, name: &str, args: &[&str], code: i32) -> Value {
        self.json_with(Some(name), args, Some(code))
    }

    pub fn json(&self, args: &[&str]) -> Value {
        self.json_with(None, args, None)
    }

    /// JSON output of a command expected to exit with `code`.
    pub fn json_exit(&self, args: &[&str], code: i32) -> Value {
        self.json_with(None, args, Some(code))
    }

    /// JSON output of a command run as `who` (none: no credential), exiting with `code`
    /// (none: 0, or 4 for a run with failed actions).
    fn json_with(&self, who: Option<&str>, args: &[&str], code: Option<i32>) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let out = match who {
            Some(name) => self.custos_as(name, &all),
            None => self.custos(&all),
        };
        match code {
            Some(c) => assert_eq!(
                out.status.code(),
                Some(c),
                "custos {args:?}: {}",
                text(&out)
            ),
            None => assert!(
                out.status.code().is_some_and(|c| c == 0 || c == 4),
                "custos {args:?} failed: {}",
                text(&out)
            ),
        }
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("custos {args:?}: {e}: {}", text(&out)))
    }

    /// Every event in the ledger.
    pub fn all_events(&self) -> Vec<Value> {
        self.json(&["history", "--limit", "1000000"])["events"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn events(&self, run: &str) -> Vec<Value> {
        self.json(&["history", "--run", run, "--limit", "100000"])["events"]
            .as_array()
            .unwrap()
            .clone()
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn outcome_of(report: &Value, bucket: &str) -> String {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["resource"]["resource_id"] == bucket)
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The report's rows about one resource.
pub fn rows_of(report: &Value, resource: &str) -> Vec<Value> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["resource"]["resource_id"] == resource)
        .cloned()
        .collect()
}

/// Start `custos args`, wait until the fault proxy holds one of its calls, and SIGKILL
/// it: its intent is written and its call in flight.
pub async fn kill_mid_call(env: &Env, proxy: &custos_testkit::proxy::FaultProxy, args: &[&str]) {
    let mut child = env
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        proxy.wait_held(std::time::Duration::from_secs(180)).await,
        "custos {args:?} never reached the held call"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// Intents with no outcome event.
pub fn open_intents(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "action.intent")
        .filter(|i| {
            !events.iter().any(|e| {
                e["kind"] != "action.intent"
                    && e["kind"].as_str().unwrap().starts_with("action.")
                    && e["payload"]["action_id"] == i["payload"]["action_id"]
            })
        })
        .collect()
}

pub fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["kind"] == kind).count()
}

pub async fn has_pab(client: &aws_sdk_s3::Client, bucket: &str) -> bool {
    client
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .is_ok()
}

/// A running `custos serve` (killed when dropped).
pub struct Server {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    /// Start `custos serve` on a free loopback port; returns once it listens (it prints
    /// its address on the first line of stdout after binding).
    pub fn serve(&self, extra: &[&str]) -> Server {
        use std::io::BufRead;
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .strip_prefix("listening on ")
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("custos serve did not say where it listens: {line:?}"))
            .to_string();
        Server { child, url }
    }
}
