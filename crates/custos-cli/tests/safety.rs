#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The ways around the Safety Sandwich found in issue 8, one LocalStack test each. Every
//! test failed on the code before the guard (run them against another build with
//! `CUSTOS_TEST_BIN=/path/to/custos`) and passes now. The oracle is the state read back
//! from LocalStack (or the requests a fault proxy saw reach it), never custos' own report
//! alone.

mod common;
use common::*;

use custos_testkit::proxy::{Fault, FaultProxy, Matcher, Method};
use custos_testkit::{
    Fixture, bucket_item, config_change_event, endpoint, has_public_access_block, make_bucket,
    make_buckets, make_queue, publish, require_localstack, s3, sdk, sqs, tag_bucket,
};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// Buckets (read back from LocalStack) that have a public access block.
async fn with_block(client: &aws_sdk_s3::Client, names: &[String]) -> usize {
    let mut n = 0;
    for b in names {
        if has_public_access_block(client, b).await {
            n += 1;
        }
    }
    n
}

fn rules_of(row: &Value) -> Vec<String> {
    row["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// Ids of the approval requests about buckets (the account-level EBS setting asks too).
fn bucket_requests(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["plan"]["resource"]["resource_type"] == "AWS::S3::Bucket")
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

fn intents(events: &[Value]) -> usize {
    count(events, "action.intent")
}

const ALWAYS_BLACKOUT: &str = "[[gate.blackouts]]\nname = \"freeze\"\nenvironments = [\"production\"]\ncron = \"0 * * * * *\"\nduration_minutes = 120\ntimezone = \"UTC\"\n";

/// Item 1: approved work counts against the blast radius; `ceiling = 1` and `pause`
/// stop approved work too.
#[tokio::test]
async fn approved_work_counts_against_the_blast_radius_and_the_kill_switch_stops_it() {
    require_localstack().await;
    let limit = "[gate]\nmax_actions_per_run = 3\n";
    let env = Env::with_config(limit);
    let client = s3(&sdk(&env.account));
    let prod: Vec<String> = (0..8).map(|i| format!("a{}-p{i}", env.account)).collect();
    make_buckets(&client, &prod, Fixture::Production, 8)
        .await
        .unwrap();
    env.json(&["run", "--once"]);
    let pending = env.json(&["approvals", "list"]);
    let ids = bucket_requests(&pending);
    assert_eq!(ids.len(), 8, "{pending:#}");
    for id in &ids {
        let out = env.custos_as("alice", &["approvals", "approve", id, "--no-execute"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }

    // ceiling = 1 is a kill switch: approved work waits too.
    env.write_config_with(
        "[autonomy]\ndefault = 3\nceiling = 1\n[autonomy.classes.s3]\n\"*\" = 4\n",
        limit,
    );
    let capped = env.json(&["run", "--once"]);
    assert_eq!(intents(&env.events(capped["run_id"].as_str().unwrap())), 0);
    assert_eq!(
        with_block(&client, &prod).await,
        0,
        "executed above the ceiling"
    );
    let approved = env.json(&["approvals", "list", "--status", "approved"]);
    assert_eq!(
        bucket_requests(&approved).len(),
        8,
        "approvals stay approved"
    );

    // Without the cap, approved work runs first and counts: 3 in the run, and the two
    // new dev fixes are deferred by the same limit.
    env.write_config(limit);
    let dev: Vec<String> = (0..2).map(|i| format!("a{}-d{i}", env.account)).collect();
    make_buckets(&client, &dev, Fixture::NoPublicAccessBlock, 2)
        .await
        .unwrap();
    let run = env.json(&["run", "--once"]);
    let events = env.events(run["run_id"].as_str().unwrap());
    assert_eq!(intents(&events), 3, "{run:#}");
    assert_eq!(with_block(&client, &prod).await, 3);
    assert_eq!(with_block(&client, &dev).await, 0);
    for d in &dev {
        let row = &rows_of(&run, d)[0];
        assert!(
            rules_of(row).contains(&"gate.blast_radius.run".to_string()),
            "{row:#}"
        );
    }

    // pause: nothing runs, approved work included, until resume.
    let out = env.custos_as("alice", &["pause", "--reason", "INC-7 under way"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let paused = env.json(&["run", "--once"]);
    assert_eq!(intents(&env.events(paused["run_id"].as_str().unwrap())), 0);
    assert!(
        paused["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| rules_of(r).contains(&"guard.paused".to_string())),
        "{paused:#}"
    );
    assert_eq!(with_block(&client, &prod).await, 3);
    assert_eq!(env.custos_as("alice", &["resume"]).status.code(), Some(0));
    let resumed = env.json(&["run", "--once"]);
    assert_eq!(intents(&env.events(resumed["run_id"].as_str().unwrap())), 3);
    assert_eq!(with_block(&client, &prod).await, 6);
    let kinds: Vec<String> = env
        .all_events()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"guard.paused".into()) && kinds.contains(&"guard.resumed".into()));
}

/// Item 2: a rollback is a mutation like any other: it needs an identity, a blackout and
/// a later change stop it, and it writes an intent before its call.
#[tokio::test]
async fn a_rollback_goes_through_the_guard() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let bucket = format!("r{}-public", env.account);
    make_bucket(&client, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let run = env.json(&["run", "--once"]);
    let action = rows_of(&run, &bucket)[0]["action_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(has_public_access_block(&client, &bucket).await);

    let anonymous = env.custos(&["rollback", &action]);
    assert_eq!(anonymous.status.code(), Some(6), "{}", text(&anonymous));
    // A reviewer is not an operator: approving is not rolling back.
    let reviewer = env.custos_as("bob", &["rollback", &action]);
    assert_eq!(reviewer.status.code(), Some(6), "{}", text(&reviewer));
    assert!(
        String::from_utf8_lossy(&reviewer.stderr)
            .contains("`bob` (roles: reviewer) may not rollback"),
        "{}",
        text(&reviewer)
    );

    // A blackout on every environment: refused, nothing called.
    let everywhere = ALWAYS_BLACKOUT.replace("[\"production\"]", "[\"*\"]");
    env.write_config(&everywhere);
    let out = env.custos_as("alice", &["--output", "json", "rollback", &action]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "refused", "{report:#}");
    assert!(
        report["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "gate.blackout"),
        "{report:#}"
    );
    assert!(
        has_public_access_block(&client, &bucket).await,
        "rolled back in a blackout"
    );

    // Someone changed the bucket after the fix: the rollback would overwrite that.
    env.write_config("");
    tag_bucket(
        &client,
        &bucket,
        &[("environment", "dev"), ("owner", "bob")],
    )
    .await
    .unwrap();
    let out = env.custos_as("alice", &["--output", "json", "rollback", &action]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "stale", "{report:#}");
    assert!(has_public_access_block(&client, &bucket).await);

    // As custos left it again: the rollback runs, intent first, and reads back.
    tag_bucket(&client, &bucket, &[("environment", "dev")])
        .await
        .unwrap();
    let out = env.custos_as("alice", &["--output", "json", "rollback", &action]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "executed");
    assert_eq!(report["exact"], true);
    assert!(
        !has_public_access_block(&client, &bucket).await,
        "not rolled back"
    );
    let events = env.all_events();
    let rollback_intents: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "action.intent" && e["payload"]["kind"] == "rollback")
        .collect();
    assert_eq!(rollback_intents.len(), 1, "one admitted rollback");
    assert_eq!(
        rollback_intents[0]["payload"]["decision"]["verdict"],
        "execute"
    );
    let reverted: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "action.reverted")
        .collect();
    assert_eq!(reverted.len(), 1);
    assert_eq!(reverted[0]["payload"]["by"], "alice");
    assert_eq!(reverted[0]["payload"]["action_id"], action.as_str());
}

/// Item 3: an intent left by a crash is settled by reading only; nothing is called again,
/// in shadow mode least of all. The work then goes through the guard as new work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_call_is_never_reissued_by_reconcile() {
    require_localstack().await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let env = Env::new().via(&proxy.url);
    let client = s3(&sdk(&env.account));
    let bucket = format!("i{}-public", env.account);
    make_bucket(&client, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let put = Matcher::s3(Method::PUT, &bucket, "publicAccessBlock");
    proxy.inject(put.clone(), Fault::Hold, None);
    kill_mid_call(&env, &proxy, &["run", "--once"]).await;
    proxy.heal();
    let before = env.all_events();
    assert_eq!(intents(&before), 1);
    assert_eq!(count(&before, "action.executed"), 0);

    let shadow = env.json(&["run", "--once", "--shadow"]);
    assert_eq!(shadow["reconciled"], 1, "{shadow:#}");
    assert_eq!(proxy.forwarded(&put), 0, "reconcile called again");
    assert!(!has_public_access_block(&client, &bucket).await);
    assert_eq!(count(&env.all_events(), "action.interrupted"), 1);

    // The fix now goes through the guard as new work: one more intent, one call.
    let run = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&run, &bucket), "fixed", "{run:#}");
    assert_eq!(proxy.forwarded(&put), 1);
    assert_eq!(intents(&env.all_events()), 2);
}

/// Item 4: one environment classification: a blackout on `production` covers `env=prod`,
/// `PRD` and names custos has never seen.
#[tokio::test]
async fn a_production_blackout_covers_every_production_name() {
    require_localstack().await;
    let env = Env::new();
    env.write_config_with(
        "[autonomy]\ndefault = 3\n[autonomy.classes.s3]\n\"*\" = 5\n",
        ALWAYS_BLACKOUT,
    );
    let client = s3(&sdk(&env.account));
    let mut prod = Vec::new();
    for (i, tag) in ["prod", "PRD", "payments-eu"].iter().enumerate() {
        let b = format!("e{}-p{i}", env.account);
        make_bucket(&client, &b, Fixture::NoPublicAccessBlock)
            .await
            .unwrap();
        tag_bucket(&client, &b, &[("env", tag)]).await.unwrap();
        prod.push(b);
    }
    let dev = format!("e{}-dev", env.account);
    make_bucket(&client, &dev, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let run = env.json(&["run", "--once"]);
    assert_eq!(with_block(&client, &prod).await, 0, "{run:#}");
    for b in &prod {
        let row = &rows_of(&run, b)[0];
        assert!(rules_of(row).contains(&"gate.blackout".into()), "{row:#}");
    }
    assert_eq!(outcome_of(&run, &dev), "fixed");
}

fn openai(url: &str, model: &str) -> String {
    format!(
        "[reasoning]\nmode = \"openai\"\nbase_url = {url:?}\nmodel = {model:?}\ntimeout_ms = 3000\nmin_confidence = 0.6\n"
    )
}

/// Item 5: with a model configured, the offline context rules still run: a legal hold
/// blocks and an incident escalates whatever the model says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_context_rules_hold_when_a_model_says_proceed() {
    require_localstack().await;
    let server = custos_testkit::openai_stub::start().await;
    let env = Env::with_config(&openai(&server.url, "proceed"));
    let client = s3(&sdk(&env.account));
    let held = format!("h{}-held", env.account);
    let incident = format!("h{}-incident", env.account);
    let plain = format!("h{}-plain", env.account);
    for (b, tags) in [
        (
            &held,
            vec![("environment", "dev"), ("legal-hold", "case 7")],
        ),
        (
            &incident,
            vec![("environment", "dev"), ("incident", "INC-9")],
        ),
        (&plain, vec![("environment", "dev")]),
    ] {
        make_bucket(&client, b, Fixture::NoPublicAccessBlock)
            .await
            .unwrap();
        tag_bucket(&client, b, &tags).await.unwrap();
    }
    let run = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&run, &held), "denied", "{run:#}");
    assert!(rules_of(&rows_of(&run, &held)[0]).contains(&"reasoning.offline.hold".into()));
    assert_eq!(outcome_of(&run, &incident), "awaiting_approval");
    assert_eq!(outcome_of(&run, &plain), "fixed");
    assert!(!has_public_access_block(&client, &held).await);
    assert!(!has_public_access_block(&client, &incident).await);
    assert!(has_public_access_block(&client, &plain).await);
}

fn replay(env: &Env, name: &str, items: &[Value]) -> String {
    let p = env.dir.path().join(name);
    let lines: Vec<String> = items.iter().map(config_change_event).collect();
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.display().to_string()
}

/// Item 6: a capture time in the future cannot become the resource's watermark: beyond
/// the allowed clock skew it is dead-lettered, and a fresh read always wins.
#[tokio::test]
async fn a_future_dated_item_cannot_blind_custos_to_a_resource() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let bucket = format!("f{}-public", env.account);
    make_bucket(&client, &bucket, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let future = bucket_item(
        &env.account,
        &bucket,
        Fixture::Compliant,
        "2099-01-01T00:00:00Z",
    );
    let file = replay(&env, "future.ndjson", &[future]);
    let run = env.json(&["run", "--once", "--replay", &file]);
    assert_eq!(run["rejected"].as_array().unwrap().len(), 1, "{run:#}");
    assert_eq!(
        run["rejected"][0]["field"], "configurationItemCaptureTime",
        "{run:#}"
    );
    let dls = env.json(&["dead-letters"]);
    assert_eq!(dls.as_array().unwrap().len(), 1);

    // A real event, captured now, is processed (not "superseded" by the year 2099).
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let item = bucket_item(&env.account, &bucket, Fixture::NoPublicAccessBlock, &now);
    let file = replay(&env, "now.ndjson", &[item]);
    let run = env.json(&["run", "--once", "--replay", &file]);
    assert_eq!(run["superseded"], 0, "{run:#}");
    assert_eq!(outcome_of(&run, &bucket), "fixed");
    assert!(has_public_access_block(&client, &bucket).await);

    // Within the skew a slightly-future capture is accepted; a scan (a fresh read) of
    // the resource still wins over it.
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let item = bucket_item(&env.account, &bucket, Fixture::Compliant, &soon);
    let file = replay(&env, "soon.ndjson", &[item]);
    let run = env.json(&["run", "--once", "--replay", &file]);
    assert_eq!(run["rejected"].as_array().unwrap().len(), 0, "{run:#}");
    client
        .delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let scan = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&scan, &bucket), "fixed", "{scan:#}");
    assert!(has_public_access_block(&client, &bucket).await);
}

/// A copy of the shipped bundle whose `rego/gate/gate.rego` is `gate`.
fn bundle_with_gate(env: &Env, gate: &str) -> std::path::PathBuf {
    let dir = env.dir.path().join("bundle");
    for sub in ["controls", "gate"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(repo().join("rego").join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dir.join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::remove_file(dir.join("gate/gate_test.rego")).unwrap();
    std::fs::write(dir.join("gate/gate.rego"), gate).unwrap();
    dir
}

fn with_policy(env: &Env, dir: &std::path::Path, overlay: Option<&std::path::Path>, extra: &str) {
    let cfg = format!(
        "[policy]\ndir = {:?}\n{}[playbooks]\ndir = {:?}\n[database]\nurl = {:?}\n{AUTONOMY}{extra}",
        dir,
        overlay.map_or(String::new(), |o| format!("overlay = {o:?}\n")),
        repo().join("playbooks"),
        env.dir.path().join("ledger.db"),
    );
    std::fs::write(env.config(), cfg).unwrap();
}

/// Item 7: the floor is compiled in: a `policy.dir` without it still excludes and
/// honours blackouts, a gate that decides nothing is refused, the floor's namespace
/// cannot be claimed, and one failing operator rule cannot turn a deny into a request.
#[tokio::test]
async fn the_floor_holds_whatever_the_policy_directory_says() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let excluded = format!("g{}-excluded", env.account);
    let plain = format!("g{}-plain", env.account);
    make_bucket(&client, &excluded, Fixture::Excluded)
        .await
        .unwrap();
    make_bucket(&client, &plain, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();

    // A gate whose `decisions` is undefined decides nothing: refused at start, not read
    // as "execute everything".
    let undefined = bundle_with_gate(
        &env,
        "package custos.gate\n\ndecisions := {{\"rule\": \"x\", \"verdict\": \"deny\", \"message\": \"m\"}} if input.plan.never\n",
    );
    with_policy(&env, &undefined, None, "");
    let out = env.custos(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`decisions` is undefined"),
        "{}",
        text(&out)
    );
    assert!(!has_public_access_block(&client, &excluded).await);
    let no_rule = bundle_with_gate(&env, "package custos.gate\n\nallow := true\n");
    with_policy(&env, &no_rule, None, "");
    let out = env.custos(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gate.rego")
            && String::from_utf8_lossy(&out.stderr).contains("declares no `decisions`"),
        "{}",
        text(&out)
    );

    // A gate that allows everything: the floor still denies the excluded bucket.
    let empty = bundle_with_gate(&env, "package custos.gate\n\ndecisions := set()\n");
    std::fs::write(
        empty.join("floor.rego"),
        "package custos.floor\n\ndecisions := set()\n",
    )
    .unwrap();
    with_policy(&env, &empty, None, "");
    let out = env.custos(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`custos.floor` is not allowed"));
    std::fs::remove_file(empty.join("floor.rego")).unwrap();
    with_policy(
        &env,
        &empty,
        None,
        &ALWAYS_BLACKOUT.replace("[\"production\"]", "[\"*\"]"),
    );
    let blackout = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&blackout, &excluded), "denied", "{blackout:#}");
    assert!(rules_of(&rows_of(&blackout, &plain)[0]).contains(&"gate.blackout".into()));
    assert_eq!(intents(&env.all_events()), 0);
    with_policy(&env, &empty, None, "");
    let open = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&open, &excluded), "denied", "{open:#}");
    assert_eq!(outcome_of(&open, &plain), "fixed");
    assert!(
        !has_public_access_block(&client, &excluded).await,
        "an excluded bucket changed"
    );

    // An operator rule that fails to evaluate escalates; the exclusion still denies.
    client
        .delete_public_access_block()
        .bucket(&plain)
        .send()
        .await
        .unwrap();
    let overlay = env.dir.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("broken.rego"),
        "package custos.gate_rules.broken\n\ndecisions contains d if {\n  n := to_number(input.plan.tags.environment)\n  d := {\"rule\": \"acme.n\", \"verdict\": \"execute\", \"message\": sprintf(\"%d\", [n])}\n}\n",
    )
    .unwrap();
    with_policy(&env, &repo().join("rego"), Some(&overlay), "");
    let failing = env.json(&["run", "--once"]);
    assert_eq!(outcome_of(&failing, &excluded), "denied", "{failing:#}");
    assert_eq!(outcome_of(&failing, &plain), "awaiting_approval");
    assert!(rules_of(&rows_of(&failing, &plain)[0]).contains(&"gate.error".into()));
    assert!(!has_public_access_block(&client, &plain).await);
}

/// Item 8: what an action is comes from its executor: a playbook may make it stricter,
/// never looser.
#[tokio::test]
async fn a_playbook_cannot_make_an_irreversible_action_automatic() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let bucket = format!("v{}-off", env.account);
    make_bucket(&client, &bucket, Fixture::VersioningOff)
        .await
        .unwrap();
    let rego = env.dir.path().join("overlay-rego");
    let books = env.dir.path().join("overlay-playbooks");
    std::fs::create_dir_all(&rego).unwrap();
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(
        rego.join("acme.rego"),
        "package custos.controls.acme_versioning\n\nmetadata := {\"id\": \"acme-versioning\", \"title\": \"Versioning on, the ACME way\", \"severity\": \"medium\", \"resource_types\": [\"AWS::S3::Bucket\"], \"frameworks\": {}, \"remediation\": \"acme-enable-versioning\", \"class\": \"human\"}\n\nviolations contains \"versioning is off\" if object.get(input, [\"supplementaryConfiguration\", \"BucketVersioningConfiguration\", \"status\"], \"Off\") != \"Enabled\"\n",
    )
    .unwrap();
    let playbook = |extra: &str| {
        format!(
            "id = \"acme-enable-versioning\"\nversion = \"1\"\ntitle = \"t\"\ncontrol = \"acme-versioning\"\nresource_types = [\"AWS::S3::Bucket\"]\naction = \"s3:PutBucketVersioning\"\n{extra}description = \"d\"\n[parameters]\n[rollback]\ndescription = \"r\"\n[verification]\nmethod = \"control\"\ndescription = \"v\"\n"
        )
    };
    let cfg = format!(
        "[policy]\ndir = {:?}\noverlay = {rego:?}\n[playbooks]\ndir = {:?}\noverlay = {books:?}\n[database]\nurl = {:?}\n{AUTONOMY}",
        repo().join("rego"),
        repo().join("playbooks"),
        env.dir.path().join("ledger.db"),
    );
    std::fs::write(env.config(), cfg).unwrap();
    for (extra, field) in [
        (
            "risk = \"medium\"\nreversible = true\nrequires_approval = false\n",
            "`reversible`",
        ),
        ("requires_approval = false\n", "`requires_approval`"),
        ("risk = \"low\"\n", "`risk`"),
    ] {
        std::fs::write(books.join("acme.toml"), playbook(extra)).unwrap();
        let out = env.custos(&["run", "--once"]);
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("acme.toml") && err.contains(field), "{err}");
    }
    // Without the claims, it loads, and the executor's own properties apply.
    std::fs::write(books.join("acme.toml"), playbook("")).unwrap();
    let run = env.json(&["run", "--once"]);
    let acme = rows_of(&run, &bucket)
        .into_iter()
        .find(|r| r["control"] == "acme-versioning")
        .unwrap();
    assert_eq!(acme["outcome"], "awaiting_approval", "{acme:#}");
    let rules = rules_of(&acme);
    assert!(rules.contains(&"gate.irreversible".into()), "{rules:?}");
    assert!(
        rules.contains(&"gate.playbook_requires_approval".into()),
        "{rules:?}"
    );
    let status = client
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(
        status.status().is_none(),
        "versioning changed without approval"
    );
}

/// Item 9: a call whose response was lost but which landed is judged by the state read
/// back (executed, not rolled back); an intent whose resource cannot be read stays open
/// without stopping other work, and is settled once it can be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_back_decides_and_an_unreadable_intent_halts_nothing() {
    require_localstack().await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let env = Env::new().via(&proxy.url);
    let client = s3(&sdk(&env.account));
    let lost = format!("l{}-lost", env.account);
    make_bucket(&client, &lost, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let put_lost = Matcher::s3(Method::PUT, &lost, "publicAccessBlock");
    proxy.inject(put_lost.clone(), Fault::LandThenFail, None);
    let out = env.custos(&["--output", "json", "run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome_of(&run, &lost), "fixed", "{run:#}");
    // One intent is one request on the wire (issue 22 item 9): the SDK sends the
    // mutating request once; before, its retries sent it 4 times.
    assert_eq!(proxy.forwarded(&put_lost), 1);
    assert!(
        has_public_access_block(&client, &lost).await,
        "a landed change was undone"
    );
    proxy.heal();

    // An intent left open on a bucket that then cannot be read.
    let stuck = format!("l{}-stuck", env.account);
    let other = format!("l{}-other", env.account);
    make_bucket(&client, &stuck, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let put_stuck = Matcher::s3(Method::PUT, &stuck, "publicAccessBlock");
    proxy.inject(put_stuck.clone(), Fault::Hold, None);
    kill_mid_call(&env, &proxy, &["run", "--once"]).await;
    proxy.heal();
    proxy.inject(
        Matcher {
            method: Some(Method::GET),
            path_prefix: Some(format!("/{stuck}")),
            query: None,
        },
        Fault::Fail,
        None,
    );
    make_bucket(&client, &other, Fixture::NoPublicAccessBlock)
        .await
        .unwrap();
    let out = env.custos(&["--output", "json", "run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["unsettled"], 1, "{run:#}");
    assert_eq!(outcome_of(&run, &other), "fixed");
    assert!(!has_public_access_block(&client, &stuck).await);
    assert_eq!(count(&env.all_events(), "reconcile.deferred"), 1);

    proxy.heal();
    let run = env.json(&["run", "--once"]);
    assert_eq!(run["reconciled"], 1, "{run:#}");
    assert_eq!(outcome_of(&run, &stuck), "fixed");
    assert_eq!(
        proxy.forwarded(&put_stuck),
        1,
        "one call for the bucket in all"
    );
}

/// Item 10: the ledger is the lock: while one process executes an approval, another
/// finds it claimed and calls nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_execute_the_same_approval() {
    require_localstack().await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let env = Env::new().via(&proxy.url);
    let client = s3(&sdk(&env.account));
    let bucket = format!("c{}-prod", env.account);
    make_bucket(&client, &bucket, Fixture::Production)
        .await
        .unwrap();
    env.json(&["run", "--once"]);
    let id = bucket_requests(&env.json(&["approvals", "list"]))[0].clone();
    let out = env.custos_as("alice", &["approvals", "approve", &id, "--no-execute"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let put = Matcher::s3(Method::PUT, &bucket, "publicAccessBlock");
    // Only the first call is held; any second one would pass straight through.
    proxy.inject(put.clone(), Fault::Hold, Some(1));
    let first = env
        .command(&["--output", "json", "run", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(proxy.wait_held(Duration::from_secs(120)).await);
    let second = env.json(&["run", "--once"]);
    assert_eq!(
        intents(&env.events(second["run_id"].as_str().unwrap())),
        0,
        "{second:#}"
    );
    assert_eq!(proxy.seen(&put).len(), 1, "a second process called too");
    proxy.release_held();
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome_of(&report, &bucket), "fixed", "{report:#}");
    assert_eq!(proxy.forwarded(&put), 1);
    assert_eq!(intents(&env.all_events()), 1);
    let a = env.json(&["approvals", "show", &id]);
    assert_eq!(a["status"], "executed");
    assert!(has_public_access_block(&client, &bucket).await);
}

/// Item 11a: the service has no run that ends; its per-run limits count over the rolling
/// window, not per SQS receive.
#[tokio::test]
async fn the_service_counts_its_limits_over_the_rolling_window() {
    require_localstack().await;
    let env = Env::new();
    let sdk = sdk(&env.account);
    let queue = make_queue(&sqs(&sdk), &format!("w{}", env.account), 5)
        .await
        .unwrap();
    env.write_config(&format!(
        "[telemetry]\nqueue_url = {queue:?}\nwait_seconds = 1\n[gate]\nmax_actions_per_run = 5\n"
    ));
    let client = s3(&sdk);
    let names: Vec<String> = (0..30)
        .map(|i| format!("w{}-{i:02}", env.account))
        .collect();
    make_buckets(&client, &names, Fixture::NoPublicAccessBlock, 10)
        .await
        .unwrap();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bodies: Vec<String> = names
        .iter()
        .map(|n| {
            config_change_event(&bucket_item(
                &env.account,
                n,
                Fixture::NoPublicAccessBlock,
                &at,
            ))
        })
        .collect();
    publish(&sqs(&sdk), &queue, &bodies).await.unwrap();
    let out = env.custos(&["run", "--exit-when-idle", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events = env.all_events();
    assert!(count(&events, "input.received") == 30);
    assert_eq!(intents(&events), 5);
    assert_eq!(with_block(&client, &names).await, 5);
}

/// Item 11b: failures open a circuit breaker (by default after 5 failures in an hour)
/// that stops execution, recorded, until an operator resets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_open_a_breaker_that_stops_execution_until_reset() {
    require_localstack().await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let env = Env::new().via(&proxy.url);
    let client = s3(&sdk(&env.account));
    let names: Vec<String> = (0..8).map(|i| format!("k{}-{i}", env.account)).collect();
    make_buckets(&client, &names, Fixture::NoPublicAccessBlock, 8)
        .await
        .unwrap();
    let puts = Matcher {
        method: Some(Method::PUT),
        path_prefix: None,
        query: Some("publicAccessBlock".into()),
    };
    proxy.inject(puts.clone(), Fault::Fail, None);
    let out = env.custos(&["--output", "json", "run", "--once"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = env.events(run["run_id"].as_str().unwrap());
    assert_eq!(intents(&events), 5, "{run:#}");
    assert_eq!(count(&events, "action.failed"), 5);
    assert_eq!(count(&env.all_events(), "guard.breaker_opened"), 1);
    let stopped = run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| rules_of(r).contains(&"guard.breaker_open".into()))
        .count();
    assert_eq!(stopped, 3, "{run:#}");
    assert!(proxy.seen(&puts).len() >= 5);
    let status = env.custos(&["breaker", "status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("circuit breaker OPEN"));

    // Healthy again, but the breaker holds until an operator resets it.
    proxy.heal();
    let held = env.json(&["run", "--once"]);
    assert_eq!(intents(&env.events(held["run_id"].as_str().unwrap())), 0);
    assert_eq!(with_block(&client, &names).await, 0);
    let out = env.custos_as("alice", &["breaker", "reset"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    env.json(&["run", "--once"]);
    assert_eq!(with_block(&client, &names).await, 8);
}

/// Item 11c: mutating calls are rate-limited per account and service; past the wait
/// allowed, the change is deferred.
#[tokio::test]
async fn mutating_calls_are_rate_limited_per_account_and_service() {
    require_localstack().await;
    let env = Env::with_config(
        "[guard]\nrate_per_second = 0.001\nrate_burst = 2\nrate_max_wait_ms = 0\n",
    );
    let client = s3(&sdk(&env.account));
    let names: Vec<String> = (0..5).map(|i| format!("t{}-{i}", env.account)).collect();
    make_buckets(&client, &names, Fixture::NoPublicAccessBlock, 5)
        .await
        .unwrap();
    let run = env.json(&["run", "--once"]);
    assert_eq!(intents(&env.events(run["run_id"].as_str().unwrap())), 2);
    assert_eq!(with_block(&client, &names).await, 2);
    let limited = run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| rules_of(r).contains(&"guard.rate_limited".into()))
        .count();
    assert_eq!(limited, 3, "{run:#}");
}
