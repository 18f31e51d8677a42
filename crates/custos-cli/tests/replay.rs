#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `custos replay` over a real run on LocalStack: every decision re-evaluated from its
//! recorded inputs with its recorded policy gives its recorded verdict; after an operator
//! overlay freezes every change, today's policy decides otherwise while the recorded one
//! still reproduces. The oracle is the decision events as `history` shows them.

use custos_testkit::{require_localstack, s3, sdk, seed};
use serde_json::Value;

mod common;
use common::*;

#[tokio::test]
async fn every_decision_of_a_run_replays_to_its_recorded_verdict() {
    require_localstack().await;
    let env = Env::new();
    seed(&s3(&sdk(&env.account)), &format!("r{}", env.account))
        .await
        .unwrap();
    env.json(&["run", "--once"]);
    let decisions: Vec<Value> = env
        .all_events()
        .into_iter()
        .filter(|e| e["kind"] == "decision")
        .collect();
    let verdicts = |d: &Value| d["payload"]["decision"]["verdict"].clone();
    assert!(
        decisions.iter().any(|d| verdicts(d) == "execute")
            && decisions.iter().any(|d| verdicts(d) != "execute"),
        "the run decided both ways"
    );

    let replays = env.json(&["replay", "--all"]);
    let replays = replays.as_array().unwrap();
    assert_eq!(replays.len(), decisions.len());
    for (r, d) in replays.iter().zip(&decisions) {
        assert_eq!(r["decision_id"], d["id"]);
        assert_eq!(r["recorded"], verdicts(d));
        assert_eq!(r["replayed"], verdicts(d), "{r:#}");
        assert_eq!(
            (&r["reproduced"], &r["same_today"]),
            (&Value::Bool(true), &Value::Bool(true)),
            "{r:#}"
        );
    }
    let id = decisions[0]["id"].as_str().unwrap();
    let one = env.json(&["replay", &id[..8]]);
    assert_eq!(one[0]["decision_id"], id);
    let out = env.custos(&["replay", "--all", "--since", "2000-01-01"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{n} of {n} replayable decisions reproduced ({n} decisions in all); 0 would be decided differently today",
            n = decisions.len()
        )),
        "{}",
        text(&out)
    );

    // Today the operator freezes every change: the recorded policy still reproduces every
    // decision, and replay says which ones today's policy would decide otherwise.
    let overlay = env.dir.path().join("freeze");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("freeze.rego"),
        "package custos.gate_rules.freeze\n\ndecisions contains {\"rule\": \"acme.freeze\", \"verdict\": \"deny\", \"message\": \"change freeze\"} if true\n",
    )
    .unwrap();
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        cfg.replacen(
            "[policy]\n",
            &format!("[policy]\noverlay = {overlay:?}\n"),
            1,
        ),
    )
    .unwrap();
    let frozen = env.json(&["replay", "--all"]);
    for (r, d) in frozen.as_array().unwrap().iter().zip(&decisions) {
        assert_eq!(r["replayed"], verdicts(d), "{r:#}");
        assert_eq!(r["reproduced"], true, "{r:#}");
        assert_eq!(r["today"], "deny", "{r:#}");
        assert_eq!(r["same_today"], false, "{r:#}");
    }

    // A recorded input edited behind custos' back no longer reproduces: exit 7.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        env.dir.path().join("ledger.db").display()
    ))
    .await
    .unwrap();
    sqlx::raw_sql("DROP TRIGGER events_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = json_set(payload, '$.input.window.executions', 999999) WHERE id = ?")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let notes_of = |v: &Value| -> Vec<String> {
        v[0]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    let edited = env.json_exit(&["replay", id], 7);
    assert_eq!(edited[0]["reproduced"], false, "{edited:#}");
    assert!(
        notes_of(&edited).contains(
            &"the decision event does not give its recorded hash: it was edited".to_string()
        ),
        "{edited:#}"
    );

    // The recorded policy edited in its table: another decision no longer reproduces.
    let other = decisions[1]["id"].as_str().unwrap();
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        env.dir.path().join("ledger.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE policy_snapshots SET body = json_set(body, '$.files[0][1]', json_extract(body, '$.files[0][1]') || char(10) || '# edited')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let forged = env.json_exit(&["replay", other], 7);
    assert_eq!(forged[0]["reproduced"], false, "{forged:#}");
    assert!(
        notes_of(&forged).contains(
            &"the stored policy snapshot is not the one the decision names: it was edited"
                .to_string()
        ),
        "{forged:#}"
    );
}
