use super::*;

/// A fresh ledger on one backend: every test here runs on SQLite and on Postgres.
struct Fresh {
    url: String,
    ledger: Ledger,
    _dir: Option<tempfile::TempDir>,
}

impl Fresh {
    async fn on(backend: Backend) -> Fresh {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("l.db").display().to_string();
                (url, Some(dir))
            }
            Backend::Postgres => (testing::fresh_postgres().await, None),
        };
        let ledger = Ledger::open(&url).await.unwrap();
        assert_eq!(ledger.backend(), backend);
        Fresh {
            url,
            ledger,
            _dir: dir,
        }
    }

    /// What someone with write access to the database does to edit history.
    async fn drop_update_trigger(&self) {
        let q = match self.ledger.backend() {
            Backend::Sqlite => "DROP TRIGGER events_no_update",
            Backend::Postgres => "DROP TRIGGER events_no_update ON events",
        };
        sqlx::query(q).execute(self.ledger.pool()).await.unwrap();
    }
}

/// `both! { async fn name(db) { ... } }`: the test as `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($(#[$doc:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;
            async fn case($db: Fresh) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                case(Fresh::on(Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                case(Fresh::on(Backend::Postgres).await).await
            }
        }
    };
}

fn r() -> ResourceRef {
    ResourceRef {
        account: "000000000000".into(),
        region: "us-east-1".into(),
        resource_type: "AWS::S3::Bucket".into(),
        resource_id: "b".into(),
    }
}

both! {
async fn chain_links_and_verifies(db) {
    let l = &db.ledger;
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
}

both! {
async fn events_are_append_only_and_tampering_is_detected(db) {
    let l = &db.ledger;
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
    db.drop_update_trigger().await;
    sqlx::query("UPDATE events SET payload = '{\"n\":9}' WHERE seq = 1")
        .execute(l.pool())
        .await
        .unwrap();
    assert_eq!(l.verify_chain().await.unwrap().first_bad, Some(1));
}
}

both! {
async fn dead_letters_are_kept(db) {
    let l = &db.ledger;
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
            fence: None,
        },
        plan: p,
        payload,
    }
}

fn won(a: ClaimAttempt) -> Claim {
    match a {
        ClaimAttempt::Won(c) => c,
        ClaimAttempt::Held(c) => panic!("held by {c:?}"),
        ClaimAttempt::Busy => panic!("busy"),
    }
}

fn record(action_id: &str, p: &custos_core::RemediationPlan) -> custos_core::ExecutionRecord {
    custos_core::ExecutionRecord {
        action_id: action_id.into(),
        plan_id: p.id.clone(),
        outcome: custos_core::ActionOutcome::NoOp,
        before: p.before.clone(),
        before_digest: p.before_digest.clone(),
        after: None,
        after_digest: None,
        calls: vec![],
        rollback: vec![],
        verification: None,
        error: None,
    }
}

both! {
/// A holder that let its lease expire is taken over: the takeover is an event, and the
/// old holder can neither renew, nor pass the fence before a call, nor write an outcome.
async fn a_lease_taken_over_fences_its_old_holder(db) {
    let l = &db.ledger;
    let p = plan();
    let expired = won(l.claim("k", "a", chrono::Duration::milliseconds(-1)).await.unwrap());
    let b = won(l.claim("k", "b", chrono::Duration::minutes(5)).await.unwrap());
    assert_eq!(b.token, expired.token + 1);
    let taken: Vec<Event> = l
        .events(&EventFilter { kind_prefix: Some("guard.claim_taken_over".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        taken[0].payload,
        json!({"key": "k", "reason": "expired",
               "from": {"holder": "a", "token": expired.token, "expires_at": ts(&expired.expires_at)},
               "to": {"holder": "b", "token": b.token, "expires_at": ts(&b.expires_at)}})
    );
    assert_eq!(l.renew(&expired, chrono::Duration::minutes(5)).await.unwrap(), None);
    let lost = l.check_claim(&expired).await.unwrap_err();
    assert!(matches!(lost, LedgerError::ClaimLost { token, .. } if token == expired.token), "{lost}");
    l.check_claim(&b).await.unwrap();
    let meta = |fence| ActionMeta { run_id: None, approval_id: None, decision: None, fence };
    let before = l.events(&EventFilter::default()).await.unwrap().len();
    let refused = l.action_outcome(meta(Some(&expired)), &p, &record("act-a", &p)).await.unwrap_err();
    assert!(matches!(refused, LedgerError::ClaimLost { .. }), "{refused}");
    assert_eq!(l.events(&EventFilter::default()).await.unwrap().len(), before, "nothing written");
    assert!(matches!(l.action("act-a").await, Err(LedgerError::NotFound { .. })));
    l.action_outcome(meta(Some(&b)), &p, &record("act-b", &p)).await.unwrap();
    // Renewed, b's lease outlives its first expiry; given back, the next claim is no
    // takeover.
    let renewed = l.renew(&b, chrono::Duration::minutes(10)).await.unwrap().unwrap();
    assert!(renewed.expires_at > b.expires_at);
    l.release(&b).await.unwrap();
    assert_eq!(l.renew(&b, chrono::Duration::minutes(5)).await.unwrap(), None, "released");
    let c = won(l.claim("k", "c", chrono::Duration::minutes(5)).await.unwrap());
    assert_eq!(c.token, b.token + 1);
    let taken = l
        .events(&EventFilter { kind_prefix: Some("guard.claim_taken_over".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "a released claim is not taken over");
    // A dead holder's claim is taken over at once, also recorded.
    let d = l.take_over(&c, "d", chrono::Duration::minutes(5)).await.unwrap().unwrap();
    let taken = l
        .events(&EventFilter { kind_prefix: Some("guard.claim_taken_over".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);
    assert_eq!(taken[1].payload["reason"], "holder_dead");
    assert_eq!(taken[1].payload["to"]["token"], d.token);
    assert_eq!(l.verify_chain().await.unwrap().first_bad, None);
}
}

/// Postgres: a claim row another worker has locked is skipped, not waited for
/// (`FOR UPDATE SKIP LOCKED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_skips_a_claim_another_worker_is_taking() {
    let db = Fresh::on(Backend::Postgres).await;
    let l = &db.ledger;
    let a = won(l
        .claim("k", "a", chrono::Duration::milliseconds(-1))
        .await
        .unwrap());
    let mut other = l.pool().begin().await.unwrap();
    sqlx::query("SELECT token FROM claims WHERE key = $1 FOR UPDATE")
        .bind("k")
        .execute(&mut *other)
        .await
        .unwrap();
    assert_eq!(
        l.claim("k", "b", chrono::Duration::minutes(5))
            .await
            .unwrap(),
        ClaimAttempt::Busy
    );
    other.rollback().await.unwrap();
    let b = won(l
        .claim("k", "b", chrono::Duration::minutes(5))
        .await
        .unwrap());
    assert_eq!(b.token, a.token + 1);
}

both! {
async fn a_claim_is_exclusive_until_released_or_expired(db) {
    let l = &db.ledger;
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
}

both! {
async fn admission_needs_the_current_version_and_the_claim(db) {
    let l = &db.ledger;
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
}

both! {
async fn switches_bump_the_version_and_are_recorded(db) {
    let l = &db.ledger;
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
}

both! {
/// Two ledgers on one database (two processes) writing at once: every write lands, the
/// chain stays one chain.
async fn two_writers_on_one_file_keep_one_chain(db) {
    let a = std::sync::Arc::new(Ledger::open(&db.url).await.unwrap());
    let b = std::sync::Arc::new(Ledger::open(&db.url).await.unwrap());
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
}

both! {
async fn two_reviews_from_the_same_copy_do_not_overwrite_each_other(db) {
    use custos_core::{Approval, ApprovalStatus, AuthMethod, Review, Role};
    let l = &db.ledger;
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
}

both! {
async fn only_the_holder_of_the_current_claim_moves_an_executing_request(db) {
    use custos_core::{Approval, ApprovalStatus};
    let l = &db.ledger;
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

both! {
async fn the_stored_tree_matches_rfc_6962_and_proves_inclusion(db) {
    let l = &db.ledger;
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
}

both! {
async fn a_damaged_event_is_never_added_to_the_tree(db) {
    let l = &db.ledger;
    for i in 0..3 {
        l.append(None, "x", None, &json!({ "i": i })).await.unwrap();
    }
    db.drop_update_trigger().await;
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
}

both! {
async fn events_of_a_ledger_made_before_leaf_indexes_keep_their_hashes_and_verify(db) {
    // A ledger at migration 0006 with two events hashed the old way (a fresh database:
    // the one `db` migrated is left alone).
    let dir = tempfile::tempdir().unwrap();
    let url = match db.ledger.backend() {
        Backend::Sqlite => dir.path().join("old.db").display().to_string(),
        Backend::Postgres => testing::fresh_postgres().await,
    };
    {
        let pool = match db.ledger.backend() {
            Backend::Sqlite => {
                sqlx::AnyPool::connect(&format!("sqlite://{url}?mode=rwc")).await.unwrap()
            }
            Backend::Postgres => sqlx::AnyPool::connect(&url).await.unwrap(),
        };
        let mut m = match db.ledger.backend() {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        m.migrations.to_mut().retain(|x| x.version <= 6);
        m.run(&pool).await.unwrap();
        let mut prev = GENESIS.to_string();
        for (i, id) in ["a", "b"].iter().enumerate() {
            let payload = json!({ "i": i });
            let at = "2026-11-01T00:00:00.000000Z";
            let mut bytes = prev.clone().into_bytes();
            bytes.push(b'\n');
            bytes.extend_from_slice(
                crate::chain::legacy_encoding(&json!({"id": id, "at": at, "run_id": null, "kind": "x", "resource": null, "payload": payload}))
                    .as_bytes(),
            );
            let hash = custos_core::Digest::of_bytes(&bytes).0;
            sqlx::query("INSERT INTO events (id, at, kind, payload, prev_hash, hash) VALUES ($1, $2, 'x', $3, $4, $5)")
                .bind(*id).bind(at).bind(canonical_json(&payload)).bind(&prev).bind(&hash)
                .execute(&pool).await.unwrap();
            prev = hash;
        }
        pool.close().await;
    }
    let l = Ledger::open(&url).await.unwrap();
    let c = l.append(None, "y", None, &json!({})).await.unwrap();
    assert_eq!(c.index, 2);
    let report = l.verify_chain().await.unwrap();
    assert_eq!((report.events, report.first_bad), (3, None));
    assert_eq!(l.extend_tree().await.unwrap().0, 3);
}
}

both! {
/// Each open finding comes with what its run decided, the guided fix when custos left
/// the fix to a person, and the decision's rules; an older run's decision, another
/// control's, and a resource evaluated passing since are not attached (on both backends:
/// the join's `IS NOT DISTINCT FROM` is SQL both accept).
async fn current_findings_carry_their_runs_decision(db) {
    let l = &db.ledger;
    let finding = |control: &str| custos_core::Finding {
        control_id: control.into(),
        title: "t".into(),
        severity: custos_core::Severity::High,
        resource: r(),
        frameworks: Default::default(),
        message: "m".into(),
        remediation: Some("pb".into()),
        guidance: None,
        terraform: None,
    };
    let guided = json!({"text": "by hand", "cli": ["aws s3api put-public-access-block --bucket b"], "terraform": "resource {}"});
    let decision = |control: &str, verdict: &str, rule: &str| {
        json!({"control": control, "plan": {"guided": guided},
               "decision": {"verdict": verdict, "reasons": [{"stage": "gate", "rule": rule, "verdict": verdict, "message": "m"}]}})
    };
    let evaluated = json!({"controls": ["c1", "c2"], "failing": ["c1", "c2"], "deleted": false});
    for run in ["run1", "run2"] {
        l.append(Some(run), "resource.evaluated", Some(&r()), &evaluated).await.unwrap();
        for c in ["c1", "c2"] {
            l.append(Some(run), "finding", Some(&r()), &serde_json::to_value(finding(c)).unwrap())
                .await
                .unwrap();
        }
        // run1 decided both to execute; run2 asks a person about c1 and executes c2.
        let (v1, rule1) = if run == "run1" { ("execute", "autonomy.level") } else { ("needs_approval", "gate.managed_by_iac") };
        l.append(Some(run), "decision", Some(&r()), &decision("c1", v1, rule1)).await.unwrap();
        l.append(Some(run), "decision", Some(&r()), &decision("c2", "execute", "autonomy.level")).await.unwrap();
    }
    let open = l.current_findings().await.unwrap();
    let got: Vec<_> = open
        .iter()
        .map(|f| (f.finding.control_id.as_str(), f.run_id.as_deref(), f.decided.as_deref(), f.guided.is_some(), f.rules.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("c1", Some("run2"), Some("needs_approval"), true, vec!["gate.managed_by_iac".to_string()]),
            ("c2", Some("run2"), Some("execute"), false, vec!["autonomy.level".to_string()]),
        ]
    );
    assert_eq!(open[0].guided.as_ref().unwrap().cli.len(), 1);
    // Evaluated passing since: nothing is open.
    l.append(Some("run3"), "resource.evaluated", Some(&r()), &json!({"controls": ["c1", "c2"], "failing": [], "deleted": false}))
        .await
        .unwrap();
    assert_eq!(l.current_findings().await.unwrap().len(), 0);
}
}
