#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `custos audit`: keys, checkpoints written by every command that records events, the
//! witness copies in a directory and in S3 (LocalStack), and `audit verify` of the result
//! (clean, then after a witness copy and the ledger's tail are removed).

use custos_testkit::{require_localstack, s3, sdk, seed};
use serde_json::Value;

mod common;
use common::*;

const ORIGIN: &str = "custos.test/ledger";

async fn s3_copies(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix("custos/")
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_command_leaves_its_events_signed_and_witnessed() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let witness_bucket = format!("w{}", env.account);
    client
        .create_bucket()
        .bucket(&witness_bucket)
        .send()
        .await
        .unwrap();
    let key = env.dir.path().join("custos.key");
    let witness_dir = env.dir.path().join("witness");

    // Keys: the private key readable by its owner only, the public one printed and beside it.
    let out = env.custos(&[
        "audit",
        "keygen",
        "--name",
        ORIGIN,
        "--out",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(public.starts_with(&format!("{ORIGIN}+")), "{public}");
    let pub_file = env.dir.path().join("custos.key.pub");
    assert_eq!(std::fs::read_to_string(&pub_file).unwrap().trim(), public);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = env.custos(&[
        "audit",
        "keygen",
        "--name",
        ORIGIN,
        "--out",
        key.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("exists: custos does not overwrite a signing key"));

    env.write_config(&format!(
        "[evidence]\nsigning_key_file = {key:?}\nwitness_dir = {witness_dir:?}\nwitness_s3 = \"s3://{witness_bucket}/custos\"\n"
    ));
    // Commands that record events: principals and tokens, a run that fixes buckets.
    let prefix = format!("a{}", env.account);
    seed(&s3(&sdk(&env.account)), &prefix).await.unwrap();
    env.token("alice");
    let run = env.json(&["run", "--once"]);
    assert!(run["run_id"].is_string());

    let events = env.all_events().len() as u64;
    let report = env.json(&[
        "audit",
        "verify",
        "--public-key",
        pub_file.to_str().unwrap(),
    ]);
    assert_eq!(report["counts"], serde_json::json!({}), "{report:#}");
    assert_eq!(report["events"], events);
    assert_eq!(
        report["anchored"], events,
        "the last command's events are signed"
    );
    assert_eq!(report["pending"], 0);
    let dir_copies = std::fs::read_dir(&witness_dir).unwrap().count();
    let bucket_copies = s3_copies(&client, &witness_bucket).await;
    assert!(dir_copies >= 2, "one checkpoint per command at least");
    assert_eq!(bucket_copies.len(), dir_copies);
    assert_eq!(
        report["witnesses"],
        serde_json::json!([
            [format!("dir {}", witness_dir.display()), dir_copies],
            [format!("s3://{witness_bucket}/custos/"), dir_copies],
        ])
    );
    // Each copy is the signed note, byte for byte the same in both places.
    let first = &bucket_copies[0];
    let from_s3 = client
        .get_object()
        .bucket(&witness_bucket)
        .key(first)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let from_dir = std::fs::read(witness_dir.join(first.trim_start_matches("custos/"))).unwrap();
    assert_eq!(from_s3.as_ref(), from_dir.as_slice());
    assert!(String::from_utf8_lossy(&from_dir).starts_with(&format!("{ORIGIN}\n")));

    // The evidence bundle of a fix, exported and checked offline.
    let executed = env
        .all_events()
        .into_iter()
        .find(|e| e["kind"] == "action.executed")
        .expect("the run fixed a bucket");
    let action_id = executed["payload"]["action_id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = env.dir.path().join("bundle.json");
    let verify_bundle = || {
        env.custos(&[
            "evidence",
            "verify",
            file.to_str().unwrap(),
            "--public-key",
            &public,
        ])
    };
    let out = env.custos(&[
        "evidence",
        "show",
        &action_id,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("outcome     executed"),
        "{}",
        text(&out)
    );
    let out = verify_bundle();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("bundle of action {action_id} verifies")));
    let bytes = std::fs::read(&file).unwrap();
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    let summary = &bundle["summary"];
    // The summary against the ledger's own record of the fix, read through `history`.
    assert_eq!(summary["before"], executed["payload"]["before"]);
    assert_eq!(summary["after"], executed["payload"]["after"]);
    assert_eq!(summary["verification"], executed["payload"]["verification"]);
    let diff = summary["diff"].as_array().unwrap();
    assert!(!diff.is_empty());
    for change in diff {
        let path = change["path"].as_str().unwrap();
        assert_eq!(
            Some(&change["after"]),
            executed["payload"]["after"].pointer(path),
            "{change}"
        );
        assert_ne!(change["before"], change["after"]);
    }
    assert!(
        summary["frameworks"]
            .as_object()
            .is_some_and(|f| !f.is_empty()),
        "{summary:#}"
    );
    assert!(summary["item"]["configuration"].is_object(), "{summary:#}");
    let key = custos_evidence::PublicKey::parse(&public, "test").unwrap();
    custos_evidence::bundle::verify(&bytes, &key).unwrap();
    // Any byte of the state changed (every occurrence of the before and after state, in
    // the summary and in the events), and every 11th byte of the rest: the bundle no
    // longer verifies.
    let mut positions: std::collections::BTreeSet<usize> = (0..bytes.len()).step_by(11).collect();
    for state in [
        &executed["payload"]["before"],
        &executed["payload"]["after"],
    ] {
        let needle = serde_json_canonicalizer::to_vec(state).unwrap();
        let found: Vec<usize> = (0..=bytes.len() - needle.len())
            .filter(|&i| bytes[i..].starts_with(&needle))
            .collect();
        // As many places as the document holds that value (the summary, the outcome
        // event, the intent, the plan, ...).
        fn places(v: &Value, state: &Value) -> usize {
            let inner = match v {
                Value::Array(a) => a.iter().map(|x| places(x, state)).sum(),
                Value::Object(o) => o.values().map(|x| places(x, state)).sum(),
                _ => 0,
            };
            inner + usize::from(v == state)
        }
        assert_eq!(found.len(), places(&bundle, state));
        for start in found {
            positions.extend(start..start + needle.len());
        }
    }
    eprintln!(
        "bundle: {} bytes, {} positions changed",
        bytes.len(),
        positions.len()
    );
    for i in positions {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        assert!(
            custos_evidence::bundle::verify(&changed, &key).is_err(),
            "byte {i} ({:?}) changed and the bundle still verifies",
            bytes[i] as char
        );
    }
    let mut changed = bytes.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    std::fs::write(&file, &changed).unwrap();
    let out = verify_bundle();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("BUNDLE DOES NOT VERIFY"));

    // Issue 22 item 5: the fix rolled back, its bundle holds the revert; leaving out any
    // one of its events (and re-encoding, with the summary recomputed from what is left)
    // fails verification. Watched failing with the head check and the `prior` links
    // removed from `verify`: every event but the first could be dropped.
    let rb = env.custos_as("alice", &["rollback", &action_id]);
    assert_eq!(rb.status.code(), Some(0), "{}", text(&rb));
    let out = env.custos(&[
        "evidence",
        "show",
        &action_id,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let whole: custos_evidence::bundle::Bundle =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    custos_evidence::bundle::verify(&whole.to_bytes().unwrap(), &key).unwrap();
    let kinds: Vec<&str> = whole.events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"action.reverted"), "{kinds:?}");
    assert!(kinds.len() >= 4, "{kinds:?}");
    for (n, kind) in kinds.iter().enumerate() {
        let mut cut = whole.clone();
        cut.events.remove(n);
        cut.summary = custos_evidence::bundle::Summary::from_events(&cut.action_id, &cut.events);
        let e = custos_evidence::bundle::verify(&cut.to_bytes().unwrap(), &key);
        assert!(
            e.is_err(),
            "without event {n} (`{kind}`) the bundle still verifies"
        );
    }
    // The rollback appended events.
    let events = env.all_events().len() as u64;

    // Another key verifies nothing.
    let other = env.dir.path().join("other.key");
    env.custos(&[
        "audit",
        "keygen",
        "--name",
        ORIGIN,
        "--out",
        other.to_str().unwrap(),
    ]);
    let other_pub = std::fs::read_to_string(env.dir.path().join("other.key.pub")).unwrap();
    let wrong = env.json_exit(&["audit", "verify", "--public-key", other_pub.trim()], 7);
    assert_eq!(wrong["valid_checkpoints"], 0);
    assert!(wrong["counts"]["bad_checkpoint"].as_u64().unwrap() >= 2);

    // A witness copy removed from S3 is missing; the table output says so.
    client
        .delete_object()
        .bucket(&witness_bucket)
        .key(first)
        .send()
        .await
        .unwrap();
    let out = env.custos(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("LEDGER DAMAGED: 1 missing checkpoint"),
        "{shown}"
    );
    let id = first
        .trim_start_matches("custos/checkpoint-")
        .trim_start_matches('0');
    assert!(
        shown.contains(&format!(
            "s3://{witness_bucket}/custos/ has no copy of ledger checkpoint {id}"
        )),
        "{shown}"
    );

    // The ledger's newest event removed behind custos' back: the signed checkpoints say
    // how long the log was.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        env.dir.path().join("ledger.db").display()
    ))
    .await
    .unwrap();
    sqlx::raw_sql(
        "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let damaged: Value = env.json_exit(&["audit", "verify"], 7);
    assert_eq!(damaged["counts"]["truncated"], 1, "{damaged:#}");
    assert_eq!(damaged["damage"][0]["kind"], "truncated");
    assert_eq!(damaged["damage"][0]["index"], events - 1);

    // A state table edited behind custos' back: the approval's row no longer says what
    // its events say.
    let pending: String =
        sqlx::query_scalar("SELECT id FROM approvals WHERE status = 'pending' LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("UPDATE approvals SET status = 'approved' WHERE id = ?")
        .bind(&pending)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let edited: Value = env.json_exit(&["audit", "verify"], 7);
    assert_eq!(edited["counts"]["state_mismatch"], 1, "{edited:#}");
    let detail =
        format!("approval `{pending}` is `approved` in its table; its events say `pending`");
    assert!(
        edited["damage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "state_mismatch" && d["detail"] == detail.as_str()),
        "{edited:#}"
    );
}

/// The S3 witness writes a checkpoint once (`If-None-Match: *`, which the Terraform
/// module's bucket policy requires): publishing the same note again is accepted, another
/// note under the same name is refused, and the first stays (read back from LocalStack).
#[tokio::test]
async fn the_s3_witness_never_replaces_a_checkpoint() {
    use custos_evidence::Witness as _;
    custos_testkit::require_localstack().await;
    let account = custos_testkit::unique_account();
    let client = custos_testkit::s3(&custos_testkit::sdk(&account));
    let bucket = format!("witness-{account}");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let w = custos_evidence::S3Witness {
        client: client.clone(),
        bucket: bucket.clone(),
        prefix: "custos/".into(),
    };
    w.write("checkpoint-1", b"first note\n").await.unwrap();
    w.write("checkpoint-1", b"first note\n").await.unwrap();
    let err = w
        .write("checkpoint-1", b"a forged note\n")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("already holds another checkpoint"), "{err}");
    let held = client
        .get_object()
        .bucket(&bucket)
        .key("custos/checkpoint-1")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&held[..], b"first note\n");
}
