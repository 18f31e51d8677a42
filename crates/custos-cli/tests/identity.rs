#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! Who may do what, on LocalStack: credentials are checked (forged, revoked, expired
//! tokens refused), approvals follow separation of duties and the two-person rule, are
//! bound to the plan digest the reviewer saw, and count only as the ledger's events tell
//! them: a row edited by SQL is refused. Every refusal is in the ledger; what reached the
//! bucket is read back from LocalStack.

mod common;
use common::*;

use custos_testkit::{Fixture, make_bucket, require_localstack, s3, sdk};
use serde_json::Value;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

fn codes(events: &[Value], kind: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["payload"]["code"].as_str().unwrap().to_string())
        .collect()
}

async fn sql(env: &Env, statement: &'static str, bind: &str) {
    let url = format!("sqlite://{}", env.dir.path().join("ledger.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let done = sqlx::query(statement)
        .bind(bind)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{statement}");
    pool.close().await;
}

#[tokio::test]
async fn forged_revoked_and_expired_tokens_are_refused_and_recorded() {
    let env = Env::new();
    let bob = env.token("bob");
    assert_eq!(
        String::from_utf8_lossy(&env.custos_as("bob", &["whoami"]).stdout).trim(),
        "bob (reviewer)"
    );
    let id = bob.split('_').nth(1).unwrap().to_string();

    // A real token id with a secret of the attacker's making.
    let forged = format!("cst_{id}_{}", "A".repeat(43));
    let out = env
        .command(&["whoami"])
        .env("CUSTOS_TOKEN", &forged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(
        stderr(&out),
        format!("error: token `{id}` is not recognised")
    );

    // A second token of bob's, revoked by the policy admin.
    let second = token_in(&env.custos_as("admin", &["tokens", "create", "--principal", "bob"]));
    let second_id = second.split('_').nth(1).unwrap().to_string();
    let revoke = env.custos_as("admin", &["tokens", "revoke", &second_id]);
    assert_eq!(revoke.status.code(), Some(0), "{}", text(&revoke));
    let out = env
        .command(&["whoami"])
        .env("CUSTOS_TOKEN", &second)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out).starts_with(&format!("error: token `{second_id}` was revoked at ")),
        "{}",
        stderr(&out)
    );

    // A third, whose expiry is moved into the past by SQL: the row no longer says what
    // its events say, so it is refused as an edit (expiry itself, with a clock, is
    // covered in custos-identity).
    let third = token_in(&env.custos_as(
        "admin",
        &["tokens", "create", "--principal", "bob", "--days", "1"],
    ));
    let third_id = third.split('_').nth(1).unwrap().to_string();
    sql(
        &env,
        "UPDATE tokens SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?",
        &third_id,
    )
    .await;
    let out = env
        .command(&["whoami"])
        .env("CUSTOS_TOKEN", &third)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out).contains(&format!("error: token `{third_id}` is refused: the ledger's tables differ from its events (token `{third_id}`: expires 2020-01-01T00:00:00.000000Z in its table, ")),
        "{}",
        stderr(&out)
    );

    // No credential at all; a name is not a credential.
    let out = env.custos(&["pause", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out).starts_with("error: no credentials"),
        "{}",
        stderr(&out)
    );
    let out = env
        .command(&["resume"])
        .env("CUSTOS_TOKEN", "alice")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(
        stderr(&out),
        "error: the credential is neither a custos API token nor a JWT"
    );
    // An auditor may read, not pause.
    let out = env.custos_as("audrey", &["pause", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(
        stderr(&out),
        "error: `audrey` (roles: auditor) may not pause"
    );

    let events = env.all_events();
    assert_eq!(
        codes(&events, "auth.refused"),
        [
            "token_invalid",
            "token_revoked",
            "state_tampered",
            "credentials_missing",
            "credentials_malformed"
        ]
    );
    assert_eq!(codes(&events, "access.refused"), ["forbidden"]);
    // The forged attempt is recorded for what it is; no secret is.
    let forged_event = events.iter().find(|e| e["kind"] == "auth.refused").unwrap();
    assert_eq!(
        forged_event["payload"]["detail"],
        format!("token `{id}` presented with a wrong secret")
    );
    let all = serde_json::to_string(&events).unwrap();
    for t in [&bob, &second, &third] {
        let secret = t.splitn(3, '_').nth(2).unwrap();
        assert_eq!(secret.len(), 43);
        assert!(!all.contains(secret));
    }
}

#[tokio::test]
async fn approvals_need_distinct_eligible_reviewers_of_the_plan_as_the_ledger_tells_it() {
    require_localstack().await;
    let env = Env::with_config("[approvals]\nclass_reviewers = { s3 = 2 }\n");
    let client = s3(&sdk(&env.account));
    let bucket = |i: usize| format!("i{}-{i}", env.account);
    for i in 0..3 {
        make_bucket(&client, &bucket(i), Fixture::Production)
            .await
            .unwrap();
    }
    // alice runs custos: she is the requester of what it asks.
    let run = env.json_as("alice", &["run", "--once"]);
    for i in 0..3 {
        assert_eq!(outcome_of(&run, &bucket(i)), "awaiting_approval", "{run:#}");
    }
    let pending = env.json(&["approvals", "list"]);
    let id_of = |i: usize| {
        pending
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["plan"]["resource"]["resource_id"] == bucket(i).as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b, c) = (id_of(0), id_of(1), id_of(2));
    let requested = env.all_events();
    let digest_of = |id: &str| {
        requested
            .iter()
            .find(|e| e["kind"] == "approval.requested" && e["payload"]["approval_id"] == id)
            .unwrap()["payload"]["plan_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for e in requested
        .iter()
        .filter(|e| e["kind"] == "approval.requested")
    {
        assert_eq!(e["payload"]["requested_by"], "alice");
        assert_eq!(
            e["payload"]["required_reviewers"],
            // Class `s3`: the buckets, and the account's Block Public Access.
            if e["resource"].as_str().unwrap().contains("AWS::S3::") {
                2
            } else {
                1
            }
        );
    }

    // Self-approval.
    let out = env.custos_as("alice", &["approvals", "approve", &a]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        "error: `alice` requested this change and cannot approve it (separation of duties)"
    );
    // A policy admin, even one holding the reviewer role.
    let out = env.custos_as("root", &["approvals", "approve", &a]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        "error: `root` is a policy admin; policy admins never approve (separation of duties)"
    );
    // An approval of another plan, replayed against this one.
    let out = env.custos_as(
        "bob",
        &["approvals", "approve", &a, "--plan-digest", &digest_of(&b)],
    );
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        format!(
            "error: approval `{a}` is for plan {}, not the plan {} that was reviewed; look at the request again",
            digest_of(&a),
            digest_of(&b)
        )
    );

    // One reviewer on a two-person class: recorded, not executed, not counted twice.
    let one = env.json_as(
        "bob",
        &["approvals", "approve", &a, "--plan-digest", &digest_of(&a)],
    );
    assert_eq!(one["approval"]["status"], "pending");
    assert_eq!(one["approval"]["reviews"].as_array().unwrap().len(), 1);
    assert!(one["execution"].is_null());
    env.json(&["run", "--once"]);
    assert!(
        !has_pab(&client, &bucket(0)).await,
        "executed with one reviewer"
    );
    let out = env.custos_as("bob", &["approvals", "approve", &a]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        format!("error: `bob` approved approval `{a}` already; it needs a different reviewer")
    );
    // The second reviewer: executed, read back from LocalStack.
    let two = env.json_as("carol", &["approvals", "approve", &a, "--comment", "SEC-9"]);
    assert_eq!(two["approval"]["status"], "executed", "{two:#}");
    assert_eq!(two["approval"]["decided_by"], "bob, carol");
    assert!(has_pab(&client, &bucket(0)).await);

    // b: a pending request set to approved by SQL, behind custos' back.
    sql(
        &env,
        "UPDATE approvals SET status = 'approved', body = json_set(body, '$.status', 'approved', '$.decided_by', 'mallory') WHERE id = ?",
        &b,
    )
    .await;
    // c: properly approved by two reviewers, then its plan edited by SQL.
    env.json_as("bob", &["approvals", "approve", &c, "--no-execute"]);
    let ok = env.json_as("carol", &["approvals", "approve", &c, "--no-execute"]);
    assert_eq!(ok["approval"]["status"], "approved");
    sql(
        &env,
        "UPDATE approvals SET body = json_set(body, '$.plan.parameters.BlockPublicAcls', json('false')) WHERE id = ?",
        &c,
    )
    .await;
    let refused = env.json_exit(&["run", "--once"], 4);
    let rows: Vec<&Value> = refused["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .collect();
    assert_eq!(rows.len(), 2, "{refused:#}");
    assert!(
        !has_pab(&client, &bucket(1)).await,
        "a forged approval executed"
    );
    assert!(
        !has_pab(&client, &bucket(2)).await,
        "an edited plan executed"
    );
    let events = env.all_events();
    let invalid = |id: &str| {
        events
            .iter()
            .find(|e| e["kind"] == "approval.invalid" && e["payload"]["approval_id"] == id)
            .unwrap()["payload"]["problems"]
            .clone()
    };
    assert_eq!(
        invalid(&b),
        serde_json::json!([
            "the stored status is `approved`, the events say `pending`",
            "approved by 0 eligible reviewer(s) in the events; 2 required"
        ])
    );
    let problems = invalid(&c);
    assert_eq!(problems.as_array().unwrap().len(), 1, "{problems}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with("the stored plan digest is `sha256:"),
        "{problems}"
    );
    assert_eq!(
        codes(&events, "approval.refused"),
        [
            "self_approval",
            "policy_admin_approval",
            "plan_digest_mismatch",
            "already_reviewed"
        ]
    );
    let list = env.json(&["approvals", "list", "--status", "invalid"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The chain itself is intact: the edits were to the projection, not the events.
    let chain = env.json(&["history", "--verify", "--limit", "1"]);
    assert!(chain["chain"]["first_bad"].is_null());
}

/// Copy the shipped policy bundle into the test's directory and point the configuration
/// at the copy.
fn own_policy(env: &Env) -> std::path::PathBuf {
    let dir = env.dir.path().join("rego");
    for sub in ["gate", "controls"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for f in std::fs::read_dir(repo().join("rego").join(sub)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.join(sub).join(f.file_name())).unwrap();
        }
    }
    let cfg = env.config();
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&format!("{:?}", repo().join("rego")), &format!("{dir:?}"));
    assert!(text.contains(&format!("{dir:?}")));
    std::fs::write(cfg, text).unwrap();
    dir
}

#[tokio::test]
async fn an_approval_given_under_another_policy_bundle_is_stale_not_executed() {
    require_localstack().await;
    let env = Env::new();
    let rego = own_policy(&env);
    let client = s3(&sdk(&env.account));
    let bucket = format!("p{}", env.account);
    make_bucket(&client, &bucket, Fixture::Production)
        .await
        .unwrap();
    let run = env.json_as("alice", &["run", "--once"]);
    assert_eq!(outcome_of(&run, &bucket), "awaiting_approval", "{run:#}");
    let id = rows_of(&run, &bucket)[0]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let approved = env.json_as("bob", &["approvals", "approve", &id, "--no-execute"]);
    assert_eq!(approved["approval"]["status"], "approved");

    // The bundle changes (one comment is enough to change its digest) before it runs.
    let gate = rego.join("gate/gate.rego");
    let text = std::fs::read_to_string(&gate).unwrap();
    std::fs::write(&gate, format!("{text}\n# changed after the approval\n")).unwrap();
    let rerun = env.json(&["run", "--once"]);
    let rows = rows_of(&rerun, &bucket);
    let executed: Vec<&Value> = rows
        .iter()
        .filter(|r| r["approval_id"] == id.as_str())
        .collect();
    assert_eq!(executed.len(), 1, "{rerun:#}");
    assert_eq!(executed[0]["outcome"], "stale", "{rerun:#}");
    assert!(
        executed[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("approved under policy bundle sha256:"),
        "{rerun:#}"
    );
    assert!(
        !has_pab(&client, &bucket).await,
        "executed under a policy nobody approved it with"
    );
    let after = env.json(&["approvals", "show", &id]);
    assert_eq!(after["status"], "stale");
}

#[test]
fn a_token_an_admin_issued_only_enrolls_its_holder_once() {
    let env = Env::new();
    env.token("admin");
    let out = env.custos_as(
        "admin",
        &["principals", "add", "rita", "--role", "operator"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = env.custos_as("admin", &["tokens", "create", "--principal", "rita"]);
    let given = token_in(&out);
    let given_id = given.split('_').nth(1).unwrap().to_string();
    assert!(
        stderr(&out).starts_with("this is an enrollment token"),
        "{}",
        stderr(&out)
    );
    let as_given = |args: &[&str]| {
        env.command(args)
            .env("CUSTOS_TOKEN", &given)
            .output()
            .unwrap()
    };
    // The admin's copy reads, but cannot act as rita.
    assert_eq!(
        String::from_utf8_lossy(&as_given(&["whoami"]).stdout).trim(),
        "rita (operator)"
    );
    let out = as_given(&["pause", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: `rita` signed in with enrollment token `{given_id}` issued by `admin`: it may only read, and be exchanged once for `rita`'s own token (`custos tokens create`), not pause"
        )
    );
    // rita exchanges it for her own; the given token is spent.
    let own = token_in(&as_given(&["tokens", "create"]));
    let out = env
        .command(&["pause", "--reason", "INC-7"])
        .env("CUSTOS_TOKEN", &own)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = as_given(&["tokens", "create"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stderr(&out).starts_with(&format!("error: token `{given_id}` was revoked at ")),
        "{}",
        stderr(&out)
    );
    let events = env.all_events();
    let enrolled: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "token.enrolled")
        .collect();
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0]["payload"]["principal"], "rita");
    assert_eq!(
        enrolled[0]["payload"]["enrollment_token_id"],
        given_id.as_str()
    );
    assert_eq!(codes(&events, "access.refused"), ["enrollment_only"]);
}

/// Issue 22 item 2 through the commands: a lone admin adds a reviewer, enrolls her and
/// holds her token; the role waits for a second principal, the admin cannot confirm its
/// own change, and after bob confirms it the token the admin enrolled still carries no
/// reviewer role (the creator issued its enrollment token). Watched failing with the
/// confirmation rule removed from `confirm_refusal` (the admin confirmed its own change).
#[test]
fn a_lone_admin_cannot_make_a_reviewer_with_the_commands() {
    let env = Env::new();
    env.token("admin");
    let out = env.custos_as(
        "admin",
        &["principals", "add", "rita", "--role", "reviewer"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let given = token_in(&env.custos_as("admin", &["tokens", "create", "--principal", "rita"]));
    let as_token =
        |t: &str, args: &[&str]| env.command(args).env("CUSTOS_TOKEN", t).output().unwrap();
    let own = token_in(&as_token(&given, &["tokens", "create"]));
    let out = as_token(&own, &["whoami"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rita ()");
    assert!(
        stderr(&out).contains("`reviewer` waits for confirmation"),
        "{}",
        stderr(&out)
    );
    let out = as_token(&own, &["pause", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));

    let out = env.custos_as("admin", &["--output", "json", "principals", "pending"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pending: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["change"]["kind"], "grant");
    assert_eq!(pending[0]["change"]["principal"], "rita");
    assert_eq!(pending[0]["proposed_by"], "admin");
    let change = pending[0]["id"].as_str().unwrap();
    let out = env.custos_as("admin", &["principals", "confirm", change]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stderr(&out).contains("another principal must confirm it"),
        "{}",
        stderr(&out)
    );
    let out = env.custos_as("bob", &["principals", "confirm", change]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = as_token(&own, &["whoami"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rita ()");
    assert!(
        stderr(&out).contains("who created `rita`"),
        "{}",
        stderr(&out)
    );
}
