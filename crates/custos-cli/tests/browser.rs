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
    let file = env.dir.path().join("forged.json");
    std::fs::write(&file, item.to_string()).unwrap();
    let forged = env.json_as(
        "alice",
        &["run", "--once", "--replay", file.to_str().unwrap()],
    );
    assert_eq!(
        outcome_of(&forged, &hostile),
        "awaiting_approval",
        "{forged:#}"
    );
    let token = env.token("bob");
    let server = env.serve(&[]);
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
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
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap();
    let wait = || c.wait().at_most(Duration::from_secs(30));

    // Not signed in: the page sends the browser to the login form.
    c.goto(&format!("{}/ui", server.url)).await.unwrap();
    wait()
        .for_element(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    c.find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    c.close().await.unwrap();

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
