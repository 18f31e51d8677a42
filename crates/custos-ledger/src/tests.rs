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

fn plan() -> custos_core::RemediationPlan {
    let mut p = custos_core::testing::sample_plan(&[]);
    p.resource = r();
    p
}

fn intent<'a>(
    id: &'a str,
    p: &'a custos_core::RemediationPlan,
    payload: &'a Value,
) -> NewIntent<'a> {
    NewIntent {
        action_id: id,
        meta: ActionMeta {
            run_id: Some("run1"),
            approval_id: None,
            decision: None,
        },
        plan: p,
        payload,
    }
}

fn won(a: ClaimAttempt) -> Claim {
    match a {
        ClaimAttempt::Won(c) => c,
        ClaimAttempt::Held(c) => panic!("held by {c:?}"),
    }
}

#[tokio::test]
async fn a_claim_is_exclusive_until_released_or_expired() {
    let (_d, l) = ledger().await;
    let ttl = chrono::Duration::minutes(5);
    let a = won(l.claim("k", "a", ttl).await.unwrap());
    assert!(
        matches!(l.claim("k", "b", ttl).await.unwrap(), ClaimAttempt::Held(c) if c.holder == "a")
    );
    l.release(&a).await.unwrap();
    let b = won(l.claim("k", "b", ttl).await.unwrap());
    assert!(b.token > a.token, "fencing tokens only grow");
    // A stale holder cannot release someone else's claim, nor take it over twice.
    l.release(&a).await.unwrap();
    assert!(matches!(
        l.claim("k", "c", ttl).await.unwrap(),
        ClaimAttempt::Held(_)
    ));
    let c = l.take_over(&b, "c", ttl).await.unwrap().unwrap();
    assert!(l.take_over(&b, "d", ttl).await.unwrap().is_none());
    assert_eq!(c.token, b.token + 1);
}

#[tokio::test]
async fn admission_needs_the_current_version_and_the_claim() {
    let (_d, l) = ledger().await;
    let p = plan();
    let payload = json!({"action": "s3:PutBucketVersioning"});
    let claim = won(l
        .claim("res", "me", chrono::Duration::minutes(5))
        .await
        .unwrap());
    let snap = l
        .guard_snapshot(
            &Scope::Run("run1".into()),
            Utc::now() - chrono::Duration::hours(1),
            Some("000000000000/s3"),
        )
        .await
        .unwrap();
    assert_eq!(snap.run.total, 0);
    assert!(snap.rate.is_none());
    let ok = l
        .admit(Admission {
            version: snap.state.version,
            claim: &claim,
            intent: intent("a1", &p, &payload),
            rate: Some(RateDebit {
                key: "000000000000/s3",
                tokens: 4.0,
            }),
        })
        .await
        .unwrap();
    assert!(ok);
    // Decided on the old version: refused, nothing written.
    let again = l
        .admit(Admission {
            version: snap.state.version,
            claim: &claim,
            intent: intent("a2", &p, &payload),
            rate: None,
        })
        .await
        .unwrap();
    assert!(!again);
    let snap2 = l
        .guard_snapshot(
            &Scope::Run("run1".into()),
            Utc::now() - chrono::Duration::hours(1),
            Some("000000000000/s3"),
        )
        .await
        .unwrap();
    assert_eq!(snap2.run.total, 1);
    assert_eq!(snap2.run.by_account["000000000000"], 1);
    assert_eq!(snap2.run.by_class["s3"], 1);
    assert_eq!(snap2.window, 1);
    assert_eq!(snap2.rate.unwrap().0, 4.0);
    assert_eq!(l.open_intents().await.unwrap().len(), 1);
    // A claim that is no longer held cannot admit.
    l.release(&claim).await.unwrap();
    let err = l
        .admit(Admission {
            version: snap2.state.version,
            claim: &claim,
            intent: intent("a3", &p, &payload),
            rate: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::ClaimLost { .. }), "{err}");
    let events = l.events(&EventFilter::default()).await.unwrap();
    let intents: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == "action.intent")
        .collect();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].payload["claim"]["token"], claim.token);
}

#[tokio::test]
async fn switches_bump_the_version_and_are_recorded() {
    let (_d, l) = ledger().await;
    let v0 = l.guard_state().await.unwrap().version;
    assert!(l.pause("alice", "incident 42").await.unwrap());
    assert!(!l.pause("alice", "again").await.unwrap());
    let s = l.guard_state().await.unwrap();
    assert_eq!(s.paused.as_ref().unwrap().by.as_deref(), Some("alice"));
    assert!(s.version > v0);
    assert!(l.resume("bob").await.unwrap());
    assert!(
        l.open_breaker("5 failures", &json!({"failures": 5}))
            .await
            .unwrap()
    );
    assert!(l.guard_state().await.unwrap().breaker.is_some());
    assert!(l.reset_breaker("carol").await.unwrap());
    let s = l.guard_state().await.unwrap();
    assert!(s.breaker.is_none() && s.paused.is_none() && s.breaker_reset_at.is_some());
    let kinds: Vec<String> = l
        .events(&EventFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "guard.paused",
            "guard.resumed",
            "guard.breaker_opened",
            "guard.breaker_reset"
        ]
    );
}

/// Two ledgers on one file (two processes) writing at once: every write lands, the
/// chain stays one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_file_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db").display().to_string();
    let a = std::sync::Arc::new(Ledger::open(&path).await.unwrap());
    let b = std::sync::Arc::new(Ledger::open(&path).await.unwrap());
    let mut set = tokio::task::JoinSet::new();
    for (i, l) in [a.clone(), b.clone()].into_iter().enumerate() {
        set.spawn(async move {
            for n in 0..100 {
                l.append(None, "x", None, &json!({"writer": i, "n": n}))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let report = a.verify_chain().await.unwrap();
    assert_eq!(report.events, 200);
    assert_eq!(report.first_bad, None);
}

#[tokio::test]
async fn two_reviews_from_the_same_copy_do_not_overwrite_each_other() {
    use custos_core::{Approval, ApprovalStatus, AuthMethod, Review, Role};
    let (_d, l) = ledger().await;
    let now = l.now();
    let p = plan();
    let a = Approval {
        id: "apr-000000000001".into(),
        status: ApprovalStatus::Pending,
        run_id: None,
        requested_at: now,
        expires_at: now + chrono::Duration::hours(1),
        requested_by: "alice".into(),
        decided_by: None,
        decided_at: None,
        comment: None,
        claimed_at: None,
        before_digest: p.before_digest.clone(),
        plan: p,
        decision: custos_core::testing::sample_decision(),
        findings: vec![],
        required_reviewers: 2,
        reviews: vec![],
    };
    l.request_approval(&a).await.unwrap();
    let review = |by: &str| Review {
        by: by.into(),
        roles: vec![Role::Reviewer],
        via: AuthMethod::Token {
            token_id: format!("t-{by}"),
        },
        at: now,
        comment: None,
        plan_digest: a.plan_digest(),
        before_digest: a.before_digest.clone(),
        policy_digest: a.decision.policy_digest.clone(),
    };
    // Both reviewers started from the request with no reviews.
    let (rb, rc) = (review("bob"), review("carol"));
    let mut by_bob = a.clone();
    by_bob.reviews.push(rb.clone());
    let mut by_carol = a.clone();
    by_carol.reviews.push(rc.clone());
    l.record_review(&by_bob, &rb).await.unwrap();
    let err = l.record_review(&by_carol, &rc).await.unwrap_err();
    assert!(matches!(err, LedgerError::Conflict { .. }), "{err}");
    // The row still holds bob's review; carol, reading afresh, adds hers.
    let stored = l.approval(&a.id).await.unwrap();
    assert_eq!(stored.reviews, vec![rb.clone()]);
    let mut again = stored.clone();
    again.reviews.push(rc.clone());
    l.record_review(&again, &rc).await.unwrap();
    assert_eq!(l.approval(&a.id).await.unwrap().reviews, vec![rb, rc]);
    // Ids are literal prefixes of at least four characters.
    assert_eq!(l.approval("apr-0000").await.unwrap().id, a.id);
    for bad in ["apr", "%", "apr-%", "apr-_00000000001"] {
        assert!(
            matches!(l.approval(bad).await, Err(LedgerError::NotFound { .. })),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn only_the_holder_of_the_current_claim_moves_an_executing_request() {
    use custos_core::{Approval, ApprovalStatus};
    let (_d, l) = ledger().await;
    let now = l.now();
    let p = plan();
    let mut a = Approval {
        id: "apr-000000000002".into(),
        status: ApprovalStatus::Approved,
        run_id: None,
        requested_at: now,
        expires_at: now + chrono::Duration::hours(1),
        requested_by: "alice".into(),
        decided_by: Some("bob".into()),
        decided_at: Some(now),
        comment: None,
        claimed_at: None,
        before_digest: p.before_digest.clone(),
        plan: p,
        decision: custos_core::testing::sample_decision(),
        findings: vec![],
        required_reviewers: 1,
        reviews: vec![],
    };
    l.request_approval(&a).await.unwrap();
    let claim = |a: &Approval, at| {
        let mut c = a.clone();
        c.status = ApprovalStatus::Executing;
        c.claimed_at = Some(at);
        c
    };
    // Worker 1 claims and dies; the request is given back and worker 2 claims it.
    let first = now - chrono::Duration::minutes(30);
    let c1 = claim(&a, first);
    l.transition_approval(&c1, &[ApprovalStatus::Approved], "approval.claimed", None)
        .await
        .unwrap();
    a.status = ApprovalStatus::Approved;
    a.claimed_at = None;
    l.transition_claimed(&a, first, "approval.released", None)
        .await
        .unwrap();
    let c2 = claim(&a, now);
    l.transition_approval(&c2, &[ApprovalStatus::Approved], "approval.claimed", None)
        .await
        .unwrap();
    // A recovery that read worker 1's claim cannot release worker 2's.
    let err = l
        .transition_claimed(&a, first, "approval.released", None)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Conflict { .. }), "{err}");
    assert_eq!(
        l.approval(&a.id).await.unwrap().status,
        ApprovalStatus::Executing
    );
    // Worker 2 closes its own.
    let mut done = c2.clone();
    done.status = ApprovalStatus::Executed;
    l.transition_claimed(&done, now, "approval.executed", None)
        .await
        .unwrap();
    assert_eq!(
        l.approval(&a.id).await.unwrap().status,
        ApprovalStatus::Executed
    );
}

/// The RFC 6962 root of `leaves`, computed by the recursion of RFC 6962 section 2.1
/// (written here apart from `tlog_tiles` and the stored tree).
fn rfc6962_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => Sha256::digest([&[0u8][..], &leaves[0]].concat()).into(),
        n => {
            let k = (n - 1).next_power_of_two().max(1);
            let k = if k >= n { k / 2 } else { k };
            let (l, r) = (rfc6962_root(&leaves[..k]), rfc6962_root(&leaves[k..]));
            Sha256::digest([&[1u8][..], &l, &r].concat()).into()
        }
    }
}

#[tokio::test]
async fn the_stored_tree_matches_rfc_6962_and_proves_inclusion() {
    let (_d, l) = ledger().await;
    let mut hashes = vec![];
    for (batch, n) in [(0, 37), (1, 1), (2, 26)] {
        for i in 0..n {
            let e = l
                .append(None, "x", None, &json!({"batch": batch, "i": i}))
                .await
                .unwrap();
            hashes.push(chain::hash_bytes(&e.hash).unwrap());
        }
        let (size, root) = l.extend_tree().await.unwrap();
        assert_eq!(size as usize, hashes.len());
        assert_eq!(root.0, rfc6962_root(&hashes), "after batch {batch}");
    }
    let (size, root) = l.extend_tree().await.unwrap();
    assert_eq!(size, 64, "extending an up-to-date tree adds nothing");
    for n in [0u64, 1, 31, 36, 37, 63] {
        let proof = l.inclusion_proof(n, size).await.unwrap();
        let leaf = chain::leaf_hash(&hashes[n as usize]);
        tlog_tiles::check_record(&proof, size, root, n, leaf).unwrap();
        let other = chain::leaf_hash(&hashes[(n as usize + 1) % 64]);
        assert!(tlog_tiles::check_record(&proof, size, root, n, other).is_err());
    }
}

#[tokio::test]
async fn a_damaged_event_is_never_added_to_the_tree() {
    let (_d, l) = ledger().await;
    for i in 0..3 {
        l.append(None, "x", None, &json!({ "i": i })).await.unwrap();
    }
    sqlx::query("DROP TRIGGER events_no_update")
        .execute(l.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = '{\"i\":9}' WHERE leaf_index = 1")
        .execute(l.pool())
        .await
        .unwrap();
    let err = l.extend_tree().await.unwrap_err().to_string();
    assert!(
        err.contains("event 1 (seq 2): its hash does not match its content"),
        "{err}"
    );
}

#[tokio::test]
async fn events_of_a_ledger_made_before_leaf_indexes_keep_their_hashes_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // A ledger at migration 0006 with two events hashed the old way.
    {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let mut m = sqlx::migrate!("./migrations");
        m.migrations.to_mut().retain(|x| x.version <= 6);
        m.run(&pool).await.unwrap();
        let mut prev = GENESIS.to_string();
        for (i, id) in ["a", "b"].iter().enumerate() {
            let payload = json!({ "i": i });
            let at = "2026-11-01T00:00:00.000000Z";
            let mut bytes = prev.clone().into_bytes();
            bytes.push(b'\n');
            bytes.extend_from_slice(
                canonical_json(&json!({"id": id, "at": at, "run_id": null, "kind": "x", "resource": null, "payload": payload}))
                    .as_bytes(),
            );
            let hash = custos_core::Digest::of_bytes(&bytes).0;
            sqlx::query("INSERT INTO events (id, at, kind, payload, prev_hash, hash) VALUES (?, ?, 'x', ?, ?, ?)")
                .bind(id).bind(at).bind(canonical_json(&payload)).bind(&prev).bind(&hash)
                .execute(&pool).await.unwrap();
            prev = hash;
        }
        pool.close().await;
    }
    let l = Ledger::open(&path.display().to_string()).await.unwrap();
    let c = l.append(None, "y", None, &json!({})).await.unwrap();
    assert_eq!(c.index, 2);
    let report = l.verify_chain().await.unwrap();
    assert_eq!((report.events, report.first_bad), (3, None));
    assert_eq!(l.extend_tree().await.unwrap().0, 3);
}
