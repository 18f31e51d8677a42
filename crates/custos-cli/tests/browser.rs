#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The approval page in a real browser: headless Chromium from Debian's packages, driven
//! through WebDriver (chromedriver) by `fantoccini`. A reviewer logs in with a token,
//! opens the pending request, approves it; the fix is then read back from LocalStack.
//! Hostile values (a tag holding `<script>`, an HTML-looking description) must show as
//! text: no script element, no image, no bold in the page. AWS (and LocalStack) refuse
//! `<` in S3 tags, so they arrive as an attacker would send them: a configuration item
//! in AWS Config's shape, forged onto the change-event path (here `--replay`), for a
//! bucket that exists.
//!
//! `CUSTOS_SCREENSHOT=path.png` also saves the request page (the README's picture).

mod common;
use common::*;

use custos_testkit::{Fixture, bucket_item, make_bucket, require_localstack, s3, sdk};
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SCRIPT_TAG: &str = "<script>window.__pwned = 1</script>";
const DESCRIPTION: &str = "<b>Payments</b> ledger <img src=x onerror=\"window.__pwned = 2\">";

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install Debian's `chromium` and `chromium-driver` (.ci/run does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    // Ready when /status says so (bounded).
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["value"]["ready"] == true
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver never became ready"
        );
        // Polling a readiness endpoint (bounded above), not waiting for an effect.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver { child, url }
}

/// A headless Chromium session through the driver, with a profile of its own.
async fn browser(driver: &Driver, profile: &tempfile::TempDir) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1600", format!("--user-data-dir={}", profile.path().display())],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// `item` on the change-event path (`run --once --replay`), run by alice; the row of
/// `resource` ends as `outcome`.
fn replay(env: &Env, item: &serde_json::Value, resource: &str, outcome: &str) {
    let file = env.dir.path().join("forged.json");
    std::fs::write(&file, item.to_string()).unwrap();
    let run = env.json_as(
        "alice",
        &["run", "--once", "--replay", file.to_str().unwrap()],
    );
    assert_eq!(outcome_of(&run, resource), outcome, "{run:#}");
}

/// The server, and a browser signed in on it as bob (a reviewer).
struct Session {
    c: fantoccini::Client,
    server: Server,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

async fn signed_in(env: &Env) -> Session {
    let token = env.token("bob");
    let server = env.serve(&[]);
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, &profile).await;
    login(&c, &server.url, &token).await;
    Session {
        c,
        server,
        _driver: driver,
        _profile: profile,
    }
}

/// Not signed in, `/ui` sends the browser to the login form; log in with `token`.
async fn login(c: &fantoccini::Client, server: &str, token: &str) {
    let wait = || c.wait().at_most(Duration::from_secs(30));
    c.goto(&format!("{server}/ui")).await.unwrap();
    wait()
        .for_element(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait()
        .for_element(Locator::Css("#queue, #empty"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reviewer_approves_in_the_browser_and_hostile_values_stay_text() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let bucket = format!("w{}", env.account);
    let hostile = format!("x{}", env.account);
    make_bucket(&client, &bucket, Fixture::Production)
        .await
        .unwrap();
    let run = env.json_as("alice", &["run", "--once"]);
    assert_eq!(outcome_of(&run, &bucket), "awaiting_approval", "{run:#}");
    make_bucket(&client, &hostile, Fixture::Production)
        .await
        .unwrap();
    let mut item = bucket_item(
        &env.account,
        &hostile,
        Fixture::Production,
        "2026-01-01T00:00:00Z",
    );
    item["tags"]["team"] = json!(SCRIPT_TAG);
    item["tags"]["description"] = json!(DESCRIPTION);
    replay(&env, &item, &hostile, "awaiting_approval");
    let s = signed_in(&env).await;
    let (c, server) = (&s.c, &s.server);
    let wait = || c.wait().at_most(Duration::from_secs(30));
    wait().for_element(Locator::Css("#queue")).await.unwrap();
    assert_eq!(
        wait()
            .for_element(Locator::Css("#whoami"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "bob (reviewer)"
    );
    let id_of = |b: &str| {
        env.json(&["approvals", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["plan"]["resource"]["resource_id"] == b)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (legit, forged_id) = (id_of(&bucket), id_of(&hostile));
    // The queue lists both; open the forged one first.
    c.find(Locator::Css(&format!(
        "#queue a[href='/ui/approvals/{forged_id}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait().for_element(Locator::Css("#approve")).await.unwrap();

    // Hostile values render as the characters they are.
    let tags = c
        .find(Locator::Css("#tags"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(tags.contains(SCRIPT_TAG), "{tags}");
    assert!(tags.contains(DESCRIPTION), "{tags}");
    let dom = c
        .execute(
            "return [document.getElementsByTagName('script').length, document.images.length, document.getElementsByTagName('b').length, String(window.__pwned)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(dom, json!([0, 0, 0, "undefined"]));
    // What the reviewer is shown: the change as a diff, the model output marked, rollback.
    let diff = c
        .find(Locator::Css("#diff"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        diff.contains("- facet.blockPublicAcls = false\n+ facet.blockPublicAcls = true"),
        "{diff}"
    );
    assert!(
        !c.find(Locator::Css("#rollback"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .is_empty()
    );

    // The real request: open it from the queue, look, approve.
    c.goto(&format!("{}/ui", server.url)).await.unwrap();
    wait()
        .for_element(Locator::Css(&format!(
            "#queue a[href='/ui/approvals/{legit}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        wait()
            .for_element(Locator::Css("#request-id"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        legit
    );
    let shot = c.screenshot().await.unwrap();
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    if let Ok(path) = std::env::var("CUSTOS_SCREENSHOT") {
        std::fs::write(path, &shot).unwrap();
    }
    assert!(!has_pab(&client, &bucket).await);

    c.find(Locator::Css("#approve-comment"))
        .await
        .unwrap()
        .send_keys("CHG-42 reviewed")
        .await
        .unwrap();
    c.find(Locator::Css("#approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let banner = wait()
        .for_element(Locator::Css("#banner"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        banner,
        "Approved and executed: the change was made and verified."
    );
    assert_eq!(
        c.find(Locator::Css("#status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "executed"
    );
    s.c.clone().close().await.unwrap();

    // The bucket, read back from LocalStack, and the ledger.
    assert!(has_pab(&client, &bucket).await);
    assert!(!has_pab(&client, &hostile).await);
    let events = env.all_events();
    let reviewed: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "approval.reviewed")
        .collect();
    assert_eq!(reviewed.len(), 1);
    assert_eq!(reviewed[0]["payload"]["by"], "bob");
    assert_eq!(reviewed[0]["payload"]["comment"], "CHG-42 reviewed");
}

/// A volume id an attacker chose (the change-event path takes what it is sent): quotes,
/// a command substitution, markup.
const HOSTILE_VOLUME: &str = "vol-0'$(touch pwned)\"<b>x</b>; touch pwned2 #";

/// The page's command, run by the shell with `aws` swapped for `printf '%s\n'`: the words
/// the shell would pass to the AWS CLI, one per line, in a directory where nothing else
/// exists (a command the value smuggled in would leave a file).
fn shell_words(command: &str) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let rest = command.strip_prefix("aws ").expect(command);
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("printf '%s\\n' {rest}"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    let words = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    (words, files)
}

#[tokio::test]
async fn an_alert_only_finding_shows_its_guidance_in_the_browser() {
    require_localstack().await;
    let env = Env::new();
    // The account's own alert-only findings (no trail in a fresh account), and a forged
    // volume item in AWS Config's shape with a hostile id.
    let run = env.json_as("alice", &["run", "--once"]);
    assert!(run["findings"].as_u64().unwrap() > 0, "{run:#}");
    let item = json!({
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": "2026-01-01T00:00:00Z",
        "configurationItemStatus": "OK",
        "awsAccountId": env.account,
        "awsRegion": "us-east-1",
        "availabilityZone": "us-east-1a",
        "resourceType": "AWS::EC2::Volume",
        "resourceId": HOSTILE_VOLUME,
        "ARN": format!("arn:aws:ec2:us-east-1:{}:volume/vol-0", env.account),
        "tags": {}, "relatedEvents": [], "relationships": [],
        "configuration": {"volumeId": HOSTILE_VOLUME, "encrypted": false, "size": 8,
                          "volumeType": "gp3", "availabilityZone": "us-east-1a",
                          "state": "available", "attachments": []},
        "supplementaryConfiguration": {},
    });
    replay(&env, &item, HOSTILE_VOLUME, "no_playbook");
    let s = signed_in(&env).await;
    let c = &s.c;
    let wait = || c.wait().at_most(Duration::from_secs(30));

    c.find(Locator::Css("#nav-findings"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait().for_element(Locator::Css("#findings")).await.unwrap();
    // No markup from the id became markup, and nothing ran.
    let dom = c
        .execute(
            "return [document.getElementsByTagName('script').length, document.getElementsByTagName('b').length, String(window.__pwned)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(dom, json!([0, 0, "undefined"]));
    // The account's trail finding (CloudTrail.1) is open, alert only, with its commands
    // for this account and region.
    let sections = c.find_all(Locator::Css("section.guidance")).await.unwrap();
    let mut texts = vec![];
    for s in &sections {
        texts.push(s.text().await.unwrap());
    }
    let trail = texts
        .iter()
        .find(|t| t.starts_with(&format!("cloudtrail-enabled · {}", env.account)))
        .unwrap_or_else(|| panic!("no guidance for cloudtrail-enabled: {texts:#?}"));
    assert!(
        trail.contains("aws cloudtrail create-trail --region us-east-1 --name <trail-name>"),
        "{trail}"
    );
    assert!(
        trail.contains("resource \"aws_s3_bucket\" \"trail\""),
        "{trail}"
    );
    // The forged volume: its row says alert only and links to its guidance, whose first
    // command the shell reads back as the exact id, running nothing.
    let row = c
        .find(Locator::XPath(
            "//table[@id='findings']//tr[td[2][text()='ec2-ebs-volume-encrypted']]",
        ))
        .await
        .unwrap();
    assert_eq!(
        row.attr("data-tier").await.unwrap().as_deref(),
        Some("alert")
    );
    let first = row.text().await.unwrap();
    assert!(first.contains(HOSTILE_VOLUME), "{first}");
    row.find(Locator::Css("a[href^='#guidance-']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let volume = texts
        .iter()
        .find(|t| t.starts_with(&format!("ec2-ebs-volume-encrypted · {HOSTILE_VOLUME}")))
        .unwrap_or_else(|| panic!("no guidance for the volume: {texts:#?}"));
    let snapshot = volume
        .lines()
        .find(|l| l.starts_with("aws ec2 create-snapshot"))
        .unwrap_or_else(|| panic!("{volume}"));
    let (words, files) = shell_words(snapshot);
    assert_eq!(
        words,
        [
            "ec2",
            "create-snapshot",
            "--region",
            "us-east-1",
            "--volume-id",
            HOSTILE_VOLUME,
            "--description",
            &format!("before encrypting {HOSTILE_VOLUME}"),
        ]
    );
    assert_eq!(files, Vec::<String>::new());
    let summary = c
        .find(Locator::Css("#summary"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open = env.json(&["findings"])["findings"]
        .as_array()
        .unwrap()
        .len();
    let alerts = env.json(&["findings", "--alert-only"])["findings"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(sections.len(), alerts);
    // A fixable finding custos left to a person links to its plan's guided fix.
    let guided = env.json(&["findings"])["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["guided"].is_object())
        .count();
    assert_eq!(
        c.find_all(Locator::Css("section.guided"))
            .await
            .unwrap()
            .len(),
        guided
    );
    // The same guidance in the terminal, with the Terraform in full.
    let table = env.custos(&["findings", "--control", "cloudtrail-enabled"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("  $ aws cloudtrail create-trail --region us-east-1 --name <trail-name>"),
        "{table}"
    );
    assert!(
        table.contains("  Terraform:\n    resource \"aws_s3_bucket\" \"trail\" {"),
        "{table}"
    );
    assert!(
        table.ends_with("1 open findings, 1 alert only, 0 with a guided fix\n"),
        "{table}"
    );
    assert_eq!(
        summary,
        format!(
            "{open} open, {alerts} alert only (custos never changes these: a person applies the fix below)"
        )
    );
    s.c.clone().close().await.unwrap();
}
