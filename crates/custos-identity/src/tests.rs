use super::*;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration};
use custos_core::{ManualClock, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use std::collections::{BTreeMap, BTreeSet};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn ledger(dir: &tempfile::TempDir, clock: Arc<ManualClock>) -> Arc<Ledger> {
    let path = dir.path().join("ledger.db");
    Arc::new(
        Ledger::open_with_clock(path.to_str().unwrap(), clock)
            .await
            .unwrap(),
    )
}

async fn refusals(l: &Ledger) -> Vec<serde_json::Value> {
    l.events(&custos_ledger::EventFilter {
        kind_prefix: Some("auth.refused".into()),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.payload)
    .collect()
}

#[tokio::test]
async fn tokens_authenticate_until_revoked_or_expired_and_refusals_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let l = ledger(&dir, clock.clone()).await;
    let (admin_text, admin_row) = new_token("root", "root", None, t0(), Duration::days(1)).unwrap();
    assert!(l.bootstrap("root", &admin_row).await.unwrap());
    let (again, again_row) = new_token("root2", "root2", None, t0(), Duration::days(1)).unwrap();
    assert!(
        !l.bootstrap("root2", &again_row).await.unwrap(),
        "bootstrap runs once"
    );
    let auth = Authenticator::new(l.clone(), None);
    let p = auth.authenticate(&admin_text).await.unwrap();
    assert_eq!(p.name, "root");
    assert_eq!(p.roles, BTreeSet::from([Role::PolicyAdmin]));
    assert_eq!(
        p.via,
        AuthMethod::Token {
            token_id: admin_row.id.clone()
        }
    );
    // The second bootstrap's token was never stored.
    assert_eq!(
        auth.authenticate(&again).await.unwrap_err().code(),
        "token_invalid"
    );

    // Forged: a real id with a secret of the attacker's choosing.
    let forged = format!("cst_{}_{}", admin_row.id, "A".repeat(43));
    let e = auth.authenticate(&forged).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("token `{}` is not recognised", admin_row.id)
    );

    l.create_principal("alice", &BTreeSet::from([Role::Reviewer]), "root")
        .await
        .unwrap();
    let (alice, alice_row) = new_token(
        "alice",
        "alice",
        Some("laptop".into()),
        t0(),
        Duration::hours(2),
    )
    .unwrap();
    l.issue_token(&alice_row, "root", None).await.unwrap();
    assert_eq!(
        auth.authenticate(&format!("Bearer {alice}"))
            .await
            .unwrap()
            .name,
        "alice"
    );
    clock.set(t0() + Duration::hours(2));
    let e = auth.authenticate(&alice).await.unwrap_err();
    assert_eq!(e.code(), "token_expired");
    assert_eq!(
        e.to_string(),
        format!(
            "token `{}` expired at 2026-11-01 02:00:00 UTC",
            alice_row.id
        )
    );
    clock.set(t0());
    l.revoke_token(&alice_row.id, "root").await.unwrap();
    assert_eq!(
        auth.authenticate(&alice).await.unwrap_err().code(),
        "token_revoked"
    );
    assert_eq!(
        auth.authenticate("hunter2").await.unwrap_err().code(),
        "credentials_malformed"
    );
    assert_eq!(
        auth.authenticate("eyJ.eyJ.sig").await.unwrap_err().code(),
        "oidc_not_configured"
    );

    let recorded: Vec<String> = refusals(&l)
        .await
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        recorded,
        [
            "token_invalid",
            "token_invalid",
            "token_expired",
            "token_revoked",
            "credentials_malformed",
            "oidc_not_configured"
        ]
    );
    let all = refusals(&l).await;
    assert_eq!(
        all[1]["detail"],
        format!("token `{}` presented with a wrong secret", admin_row.id)
    );
    // No secret is ever written to the ledger.
    let events = l.events(&Default::default()).await.unwrap();
    let text = serde_json::to_string(&events).unwrap();
    for secret in [&admin_text, &alice, &forged] {
        let s = token::parse(secret).unwrap().1;
        assert!(!text.contains(s));
    }
}

#[tokio::test]
async fn a_disabled_principal_cannot_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(&dir, Arc::new(ManualClock::new(t0()))).await;
    l.create_principal("bob", &BTreeSet::from([Role::Operator]), "root")
        .await
        .unwrap();
    let (bob, row) = new_token("bob", "bob", None, t0(), Duration::days(1)).unwrap();
    l.issue_token(&row, "root", None).await.unwrap();
    l.disable_principal("bob", "root").await.unwrap();
    let e = Authenticator::new(l, None)
        .authenticate(&bob)
        .await
        .unwrap_err();
    // Disabling revokes the tokens too.
    assert_eq!(e.code(), "token_revoked");
}

struct Issuer {
    kp: Ed25519KeyPair,
    der: Vec<u8>,
    kid: String,
}

impl Issuer {
    fn new(kid: &str) -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        Issuer {
            kp: Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap(),
            der: doc.as_ref().to_vec(),
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig", "alg": "EdDSA",
            "x": URL_SAFE_NO_PAD.encode(self.kp.public_key().as_ref())})
    }

    fn sign_as(&self, kid: &str, claims: &serde_json::Value) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.into());
        encode(&h, claims, &EncodingKey::from_ed_der(&self.der)).unwrap()
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

fn settings(jwks: std::path::PathBuf) -> OidcSettings {
    OidcSettings {
        issuer: "https://idp.example.test".into(),
        audience: "custos".into(),
        jwks: JwksSource::File(jwks),
        name_claim: "email".into(),
        roles_claim: "groups".into(),
        role_map: BTreeMap::from([
            ("sec-reviewers".to_string(), vec![Role::Reviewer]),
            ("platform".to_string(), vec![Role::Operator]),
            ("sneaky".to_string(), vec![Role::Service]),
        ]),
        leeway_seconds: 0,
    }
}

fn claims(aud: &str, exp_from_now: i64, groups: &[&str]) -> serde_json::Value {
    let now = Utc::now().timestamp();
    serde_json::json!({"iss": "https://idp.example.test", "aud": aud, "sub": "00u1", "email": "carol@example.test",
        "groups": groups, "iat": now, "exp": now + exp_from_now})
}

#[tokio::test]
async fn oidc_tokens_are_checked_against_the_issuers_keys() {
    let dir = tempfile::tempdir().unwrap();
    let idp = Issuer::new("k1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::json!({"keys": [idp.jwk()]}).to_string()).unwrap();
    let v = OidcVerifier::new(settings(jwks)).await.unwrap();

    let ok = v
        .verify(&idp.sign(&claims("custos", 300, &["sec-reviewers", "other"])))
        .await
        .unwrap();
    assert_eq!(ok.name, "oidc:carol@example.test");
    assert_eq!(ok.roles, BTreeSet::from([Role::Reviewer]));
    assert_eq!(
        ok.via,
        AuthMethod::Oidc {
            issuer: "https://idp.example.test".into(),
            subject: "00u1".into()
        }
    );

    let err = |r: Result<Principal, AuthError>| r.unwrap_err().to_string();
    assert_eq!(
        err(v
            .verify(&idp.sign(&claims("someone-else", 300, &["sec-reviewers"])))
            .await),
        "OIDC token refused: InvalidAudience"
    );
    assert_eq!(
        err(v
            .verify(&idp.sign(&claims("custos", -60, &["sec-reviewers"])))
            .await),
        "OIDC token refused: ExpiredSignature"
    );
    assert_eq!(
        err(v
            .verify(&idp.sign(&claims("custos", 300, &["unmapped", "sneaky"])))
            .await),
        "principal `oidc:carol@example.test` has no role"
    );
    // Signed by another key that claims the issuer's key id.
    let forged = Issuer::new("k2").sign_as("k1", &claims("custos", 300, &["sec-reviewers"]));
    assert_eq!(
        err(v.verify(&forged).await),
        "OIDC token refused: InvalidSignature"
    );
    // A symmetric token, signed with the public key as the secret (algorithm confusion).
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let confused = encode(
        &hs,
        &claims("custos", 300, &["sec-reviewers"]),
        &EncodingKey::from_secret(idp.kp.public_key().as_ref()),
    )
    .unwrap();
    assert_eq!(
        err(v.verify(&confused).await),
        "OIDC token refused: token algorithm HS256 does not match the key's EdDSA"
    );
}

#[tokio::test]
async fn a_token_issued_by_someone_else_only_reads_and_enrolls_once() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(&dir, Arc::new(ManualClock::new(t0()))).await;
    l.create_principal("rita", &BTreeSet::from([Role::Reviewer]), "root")
        .await
        .unwrap();
    let (given, row) = new_token("rita", "root", None, t0(), Duration::days(1)).unwrap();
    assert!(row.is_enrollment());
    l.issue_token(&row, "root", None).await.unwrap();
    let auth = Authenticator::new(l.clone(), None);
    let p = auth.authenticate(&given).await.unwrap();
    assert_eq!(
        p.via,
        AuthMethod::Enrollment {
            token_id: row.id.clone(),
            issued_by: "root".into()
        }
    );
    // rita's reviewer role waits for confirmation, and the issuer's copy authorizes
    // nothing but reading anyway.
    assert!(!p.has(Role::Reviewer));
    use custos_core::Permission;
    assert!(p.roles.is_empty(), "{:?}", p.roles);
    for action in [
        Permission::Approve,
        Permission::Deny,
        Permission::Pause,
        Permission::Rollback,
    ] {
        assert!(!p.may(action), "{action}");
    }
    // Exchanged once for rita's own token, which the issuer never saw.
    let (own, own_row) = new_token("rita", "rita", None, t0(), Duration::days(1)).unwrap();
    l.enroll(&row.id, &own_row).await.unwrap();
    let me = auth.authenticate(&own).await.unwrap();
    // Exchanged, but rita's reviewer role waits for a second principal (issue 22 item 2).
    assert!(!me.may(Permission::Approve));
    assert!(me.roles.is_empty(), "{:?}", me.roles);
    assert!(matches!(
        auth.authenticate(&given).await.unwrap_err(),
        AuthError::Revoked { .. }
    ));
    let (again, again_row) = new_token("rita", "rita", None, t0(), Duration::days(1)).unwrap();
    assert!(matches!(
        l.enroll(&row.id, &again_row).await.unwrap_err(),
        custos_ledger::LedgerError::Conflict { .. }
    ));
    assert!(auth.authenticate(&again).await.is_err());
}

/// Issue 22 item 6: an unauthenticated JWT whose header carries a 300 kB `kid` is refused
/// and recorded, but the event holds a bounded excerpt with the digest of the whole, and
/// a flood of them writes at most the per-credential limit, the rest counted. The oracle
/// is the ledger's rows, read back.
#[tokio::test]
async fn a_huge_kid_is_recorded_bounded_and_a_flood_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(&dir, Arc::new(ManualClock::new(t0()))).await;
    let idp = Issuer::new("k1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::json!({"keys": [idp.jwk()]}).to_string()).unwrap();
    let v = Arc::new(OidcVerifier::new(settings(jwks)).await.unwrap());
    let auth = Authenticator::new(l.clone(), Some(v));
    let kid = "k".repeat(300 * 1024);
    let jwt = idp.sign_as(&kid, &claims("custos", 300, &["sec-reviewers"]));
    for _ in 0..25 {
        auth.authenticate(&jwt).await.unwrap_err();
    }
    let rows = refusals(&l).await;
    assert_eq!(
        rows.len(),
        custos_ledger::refusals::PER_KEY_PER_MINUTE as usize,
        "one credential's refusals per minute"
    );
    for r in &rows {
        let size = r.to_string().len();
        assert!(size < 2048, "a refusal event of {size} bytes");
    }
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(detail.contains(" bytes, sha256:"), "{detail}");
}

/// Sign in `text` and say which roles it gives (the test's reading of the authenticator).
async fn roles_of(auth: &Authenticator, text: &str) -> BTreeSet<Role> {
    auth.authenticate(text).await.unwrap().roles
}

/// Issue `by`'s enrollment token for `who` and exchange it: the text of `who`'s own.
async fn enrolled(l: &Ledger, who: &str, by: &str) -> String {
    let (_, given) = new_token(who, by, None, t0(), Duration::days(1)).unwrap();
    l.issue_token(&given, by, None).await.unwrap();
    let (own, own_row) = new_token(who, who, None, t0(), Duration::days(1)).unwrap();
    l.enroll(&given.id, &own_row).await.unwrap();
    own
}

fn only(change: &custos_ledger::told::PendingChange, principal: &str) -> String {
    assert_eq!(change.change.principal(), principal, "{change:?}");
    change.id.clone()
}

/// Issue 22 item 2: one policy admin alone cannot make a reviewer. Adding one, granting
/// the role and enrolling its token each wait for a second principal; a reviewer enrolled
/// with a token from the admin who created it never counts. Watched failing with the
/// gated roles given without confirmation (`effective_roles` returning every role): the
/// lone admin's reviewer approved.
#[tokio::test]
async fn a_lone_admin_cannot_make_a_reviewer() {
    use custos_core::Permission;
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(&dir, Arc::new(ManualClock::new(t0()))).await;
    let (root, root_row) = new_token("root", "root", None, t0(), Duration::days(1)).unwrap();
    let (bob, bob_row) = new_token("bob", "bob", None, t0(), Duration::days(1)).unwrap();
    let admin = BTreeSet::from([Role::PolicyAdmin]);
    let reviewer = BTreeSet::from([Role::Reviewer]);
    assert!(
        l.bootstrap_team(&[
            ("root".into(), admin.clone(), root_row),
            ("bob".into(), reviewer.clone(), bob_row),
        ])
        .await
        .unwrap()
    );
    let auth = Authenticator::new(l.clone(), None);
    assert_eq!(
        roles_of(&auth, &root).await,
        admin,
        "the bootstrap team counts at once"
    );
    assert_eq!(roles_of(&auth, &bob).await, reviewer);

    // The lone admin: adds rita as a reviewer, enrolls her with its own token, holds it.
    l.create_principal("rita", &reviewer, "root").await.unwrap();
    let rita = enrolled(&l, "rita", "root").await;
    let p = auth.authenticate(&rita).await.unwrap();
    assert!(!p.may(Permission::Approve), "{:?}", p.roles);
    let pending = l.pending_changes().await.unwrap();
    assert_eq!(
        pending.len(),
        1,
        "the grant; the enrollment by the creator never counts"
    );
    let grant = only(&pending[0], "rita");
    // Neither the proposer nor the subject may confirm.
    for (who, roles) in [("root", &admin), ("rita", &BTreeSet::new())] {
        let e = l.confirm_change(&grant, who, roles).await.unwrap_err();
        assert!(
            matches!(e, custos_ledger::LedgerError::NotAllowed(_)),
            "{who}: {e}"
        );
    }
    // Granting itself the role waits too; so does a second admin it creates.
    l.set_roles(
        "root",
        &BTreeSet::from([Role::PolicyAdmin, Role::Reviewer]),
        "root",
    )
    .await
    .unwrap();
    assert_eq!(roles_of(&auth, &root).await, admin);
    l.create_principal("root2", &admin, "root").await.unwrap();
    let root2 = enrolled(&l, "root2", "root").await;
    assert!(
        roles_of(&auth, &root2).await.is_empty(),
        "a second admin it made"
    );

    // Bob confirms the grant: rita's role stands, but not with the token root enrolled.
    l.confirm_change(&grant, "bob", &reviewer).await.unwrap();
    assert!(
        !auth
            .authenticate(&rita)
            .await
            .unwrap()
            .may(Permission::Approve)
    );
    // Enrolled again with bob's enrollment token, confirmed by root (neither issuer nor
    // subject): now she approves.
    let rita2 = enrolled(&l, "rita", "bob").await;
    assert!(
        !auth
            .authenticate(&rita2)
            .await
            .unwrap()
            .may(Permission::Approve)
    );
    let enrollment = l
        .pending_changes()
        .await
        .unwrap()
        .into_iter()
        .find(|c| matches!(c.change, custos_ledger::told::Change::Enrollment { .. }))
        .unwrap();
    let e = l
        .confirm_change(&enrollment.id, "bob", &reviewer)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("issued the enrollment token"), "{e}");
    l.confirm_change(&enrollment.id, "root", &admin)
        .await
        .unwrap();
    assert!(
        auth.authenticate(&rita2)
            .await
            .unwrap()
            .may(Permission::Approve)
    );
    // A token she issues herself with it stands as it stands; the old one still does not.
    let (mine, mine_row) = new_token("rita", "rita", None, t0(), Duration::days(1)).unwrap();
    let Ok(Principal {
        via: AuthMethod::Token { token_id },
        ..
    }) = auth.authenticate(&rita2).await
    else {
        panic!("rita2 is a token");
    };
    l.issue_token(&mine_row, "rita", Some(&token_id))
        .await
        .unwrap();
    assert!(
        auth.authenticate(&mine)
            .await
            .unwrap()
            .may(Permission::Approve)
    );
    assert!(
        !auth
            .authenticate(&rita)
            .await
            .unwrap()
            .may(Permission::Approve)
    );
    // Removing the role takes effect at once.
    l.set_roles("rita", &BTreeSet::from([Role::Operator]), "root")
        .await
        .unwrap();
    assert!(!auth.authenticate(&rita2).await.unwrap().has(Role::Reviewer));
    // A disabled principal's proposals die with it.
    l.create_principal("ravi", &reviewer, "root").await.unwrap();
    assert_eq!(
        l.pending_changes().await.unwrap().len(),
        3,
        "root's own grant, root2's and ravi's, all proposed by root"
    );
    l.disable_principal("root", "bob").await.unwrap();
    assert_eq!(l.pending_changes().await.unwrap(), vec![]);
}

/// Run `sql` on the ledger file directly, as someone with the database but not custos.
async fn by_sql(dir: &tempfile::TempDir, sql: &str) {
    let l = Ledger::open(dir.path().join("ledger.db").to_str().unwrap())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(l.pool())
        .await
        .unwrap();
    l.close().await;
}

/// Issue 22 item 4: principals, roles and tokens are projections of their events. A
/// token row inserted by SQL and a role granted by `UPDATE principals` authenticate
/// nothing, and `audit`'s comparison names both. Watched failing with `check_token`'s
/// comparisons removed (both credentials authenticated, the inserted one as a reviewer).
#[tokio::test]
async fn rows_edited_by_sql_authenticate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(&dir, Arc::new(ManualClock::new(t0()))).await;
    let (root, root_row) = new_token("root", "root", None, t0(), Duration::days(1)).unwrap();
    assert!(l.bootstrap("root", &root_row).await.unwrap());
    l.create_principal("olivia", &BTreeSet::from([Role::Operator]), "root")
        .await
        .unwrap();
    let olivia = enrolled(&l, "olivia", "root").await;
    let auth = Authenticator::new(l.clone(), None);
    assert_eq!(
        roles_of(&auth, &olivia).await,
        BTreeSet::from([Role::Operator])
    );
    assert!(l.state_differences().await.unwrap().is_empty());

    // A token for root made outside custos: its hash inserted with a row and no event.
    let (forged, forged_row) = new_token("root", "root", None, t0(), Duration::days(1)).unwrap();
    by_sql(
        &dir,
        &format!(
            "INSERT INTO tokens (id, principal, secret_hash, label, created_at, expires_at, issued_by) VALUES ('{}', 'root', '{}', NULL, '2026-11-01T00:00:00.000000Z', '2026-11-02T00:00:00.000000Z', 'root')",
            forged_row.id, forged_row.secret_hash
        ),
    )
    .await;
    let e = auth.authenticate(&forged).await.unwrap_err();
    assert_eq!(e.code(), "state_tampered", "{e}");
    assert!(e.to_string().contains("in its table with no event"), "{e}");
    // Reviewer granted by SQL.
    by_sql(
        &dir,
        "UPDATE principals SET roles = 'operator,reviewer' WHERE name = 'olivia'",
    )
    .await;
    let e = auth.authenticate(&olivia).await.unwrap_err();
    assert_eq!(e.code(), "state_tampered", "{e}");
    assert!(
        e.to_string()
            .contains("roles `operator,reviewer` in its table"),
        "{e}"
    );
    // A token's hash swapped for one the attacker knows.
    let (_, other) = new_token("root", "root", None, t0(), Duration::days(1)).unwrap();
    by_sql(
        &dir,
        &format!(
            "UPDATE tokens SET secret_hash = '{}' WHERE id = '{}'",
            other.secret_hash, root_row.id
        ),
    )
    .await;
    assert!(auth.authenticate(&root).await.is_err());
    let found = l.state_differences().await.unwrap();
    assert_eq!(found.len(), 3, "{found:#?}");
    // The refusals are recorded, with the reason.
    let codes: Vec<String> = refusals(&l)
        .await
        .iter()
        .filter_map(|r| r["code"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        codes.iter().filter(|c| *c == "state_tampered").count(),
        2,
        "{codes:?}"
    );
}

/// A ledger written before principals and tokens were projections of their events: its
/// `token.created` events hold no hash. Opened by this version, the rows as they stand are
/// adopted once (`identity.adopted`), so its tokens keep working and the audit is clean;
/// without the adoption every token would be refused for ever. Watched failing with the
/// adoption skipped (the admin's token refused as `state_tampered`).
#[tokio::test]
async fn a_ledger_from_before_is_adopted_once_and_its_tokens_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let (text, row) = new_token("root", "root", None, t0(), Duration::days(1)).unwrap();
    let at = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    {
        let l = Ledger::open(path.to_str().unwrap()).await.unwrap();
        // What the previous version wrote for `principals bootstrap`.
        l.append(
            None,
            "principal.created",
            None,
            &serde_json::json!({"principal": "root", "roles": ["policy_admin"], "by": "bootstrap"}),
        )
        .await
        .unwrap();
        l.append(
            None,
            "token.created",
            None,
            &serde_json::json!({"token_id": row.id, "principal": "root", "label": null, "expires_at": at(row.expires_at), "by": "bootstrap", "enrollment": false}),
        )
        .await
        .unwrap();
        for sql in [
            format!(
                "INSERT INTO principals (name, roles, created_at, created_by) VALUES ('root', 'policy_admin', '{}', 'bootstrap')",
                at(t0())
            ),
            format!(
                "INSERT INTO tokens (id, principal, secret_hash, label, created_at, expires_at, issued_by) VALUES ('{}', 'root', '{}', NULL, '{}', '{}', 'root')",
                row.id,
                row.secret_hash,
                at(t0()),
                at(row.expires_at)
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(l.pool())
                .await
                .unwrap();
        }
        l.close().await;
    }
    // This version opens it, twice: one adoption.
    let _ = Ledger::open(path.to_str().unwrap()).await.unwrap();
    let l = ledger(&dir, Arc::new(ManualClock::new(t0()))).await;
    let adopted = l
        .events(&custos_ledger::EventFilter {
            kind_prefix: Some("identity.adopted".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(adopted.len(), 1);
    let auth = Authenticator::new(l.clone(), None);
    assert_eq!(
        roles_of(&auth, &text).await,
        BTreeSet::from([Role::PolicyAdmin])
    );
    assert_eq!(l.state_differences().await.unwrap(), Vec::<String>::new());
}
