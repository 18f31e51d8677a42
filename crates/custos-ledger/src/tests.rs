use super::*;

async fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(&dir.path().join("l.db").display().to_string())
        .await
        .unwrap();
    (dir, l)
}

fn r() -> ResourceRef {
    ResourceRef {
        account: "000000000000".into(),
        region: "us-east-1".into(),
        resource_type: "AWS::S3::Bucket".into(),
        resource_id: "b".into(),
    }
}

#[tokio::test]
async fn chain_links_and_verifies() {
    let (_d, l) = ledger().await;
    let a = l
        .append(Some("run1"), "x", Some(&r()), &json!({"n": 1}))
        .await
        .unwrap();
    let b = l
        .append(Some("run1"), "y", None, &json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(a.prev_hash, GENESIS);
    assert_eq!(b.prev_hash, a.hash);
    let report = l.verify_chain().await.unwrap();
    assert_eq!(report.events, 2);
    assert_eq!(report.first_bad, None);
    assert_eq!(report.head, b.hash);
    let evs = l
        .events(&EventFilter {
            resource_contains: Some("/b".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].payload, json!({"n": 1}));
}

#[tokio::test]
async fn events_are_append_only_and_tampering_is_detected() {
    let (_d, l) = ledger().await;
    l.append(None, "x", None, &json!({"n": 1})).await.unwrap();
    l.append(None, "x", None, &json!({"n": 2})).await.unwrap();
    let err = sqlx::query("UPDATE events SET payload = '{}' WHERE seq = 1")
        .execute(l.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(
        sqlx::query("DELETE FROM events")
            .execute(l.pool())
            .await
            .is_err()
    );
    // Someone with file access drops the trigger and edits history: the chain breaks.
    sqlx::query("DROP TRIGGER events_no_update")
        .execute(l.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = '{\"n\":9}' WHERE seq = 1")
        .execute(l.pool())
        .await
        .unwrap();
    assert_eq!(l.verify_chain().await.unwrap().first_bad, Some(1));
}

#[tokio::test]
async fn dead_letters_are_kept() {
    let (_d, l) = ledger().await;
    let dl = DeadLetter {
        id: "d1".into(),
        at: Utc::now(),
        run_id: None,
        source: "replay".into(),
        location: "f:3".into(),
        field: Some("resourceId".into()),
        error: "missing".into(),
        raw: "{}".into(),
    };
    l.dead_letter(&dl).await.unwrap();
    let all = l.dead_letters().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].location, "f:3");
}
