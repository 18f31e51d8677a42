#![allow(clippy::unwrap_used, clippy::expect_used)] // test: a panic is the failure report
//! Candidate fixes on LocalStack, through the engine with the shipped executors,
//! scanner and playbooks (issue 26, scope 4). `ec2-sg-open-ingress` has a baseline
//! (revoke the open entry) and a candidate (narrow it to the administrative CIDRs). An
//! operator's gate rule refuses revoking SSH on bastions: there the candidate is chosen
//! and executed; elsewhere the baseline keeps its place (no candidate has a better
//! record); with `fallback = "baseline"` the baseline's refusal stands. The oracle is
//! each group's ingress read straight from LocalStack with the SDK; the recorded choice
//! is checked after, and replayed.

mod common;

use custos_core::ResourceRef;
use custos_engine::{Engine, Mode};
use custos_ledger::EventFilter;
use custos_telemetry::ResourceReader;
use custos_telemetry::aws::AwsPool;
use custos_telemetry::memory::Items;
use custos_testkit::{ec2, make_open_security_group, sdk};
use std::collections::{BTreeMap, BTreeSet};

const CONTROL: &str = "ec2-sg-open-ingress";
const ADMIN: &str = "192.0.2.0/24";

/// An operator's rule: SSH to a bastion is narrowed, never revoked.
const BASTIONS: &str = r#"package custos.gate_rules.bastions

decisions contains d if {
	input.plan.playbook == "ec2-revoke-open-ingress"
	input.plan.tags.access == "bastion"
	d := {"rule": "no_revoke_on_bastions", "verdict": "deny", "message": "bastions keep SSH from the administrative ranges"}
}
"#;

fn group(account: &str, id: &str) -> ResourceRef {
    ResourceRef {
        account: account.into(),
        region: "us-east-1".into(),
        resource_type: "AWS::EC2::SecurityGroup".into(),
        resource_id: id.into(),
    }
}

/// The sources allowed on port 22, read from LocalStack.
async fn ssh_sources(client: &aws_sdk_ec2::Client, id: &str) -> BTreeSet<String> {
    let out = client
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .unwrap();
    out.security_groups()[0]
        .ip_permissions()
        .iter()
        .filter(|p| p.from_port() == Some(22))
        .flat_map(|p| p.ip_ranges().iter().filter_map(|r| r.cidr_ip()))
        .map(str::to_string)
        .collect()
}

async fn engine(
    sdk: &aws_config::SdkConfig,
    account: &str,
    dir: &std::path::Path,
    extra: &str,
) -> (Engine, std::sync::Arc<custos_telemetry::Inventory>) {
    let overlay = dir.join("rego");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(overlay.join("bastions.rego"), BASTIONS).unwrap();
    common::engine_on(
        AwsPool::with_account(sdk.clone(), account.into(), BTreeMap::new()),
        &format!(
            "[autonomy]\ndefault = 5\n{extra}[guard]\nrate_per_second = 1000\nrate_burst = 1000\n[policy]\noverlay = {overlay:?}\n[approvals]\nplaybook_reviewers = {{ \"ec2-revoke-open-ingress\" = 2 }}\n[playbooks.overrides.ec2-narrow-open-ingress]\nadminCidrs = [\"{ADMIN}\"]\n"
        ),
        dir,
    )
    .await
}

async fn tag(client: &aws_sdk_ec2::Client, id: &str, key: &str, value: &str) {
    client
        .create_tags()
        .resources(id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn run(e: &Engine, reader: &custos_telemetry::Inventory, groups: &[ResourceRef]) {
    let mut items = Vec::new();
    for g in groups {
        items.push(reader.read(g).await.unwrap().unwrap());
    }
    e.run_once(&Items::new("sqs:test", items), Mode::Execute)
        .await
        .unwrap();
}

/// The recorded decisions on `id` for the control: (decided playbook, the choice).
async fn decisions(e: &Engine, id: &str) -> Vec<(String, serde_json::Value, String)> {
    e.ledger()
        .events(&EventFilter {
            kind_prefix: Some("decision".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|ev| {
            ev.payload["control"] == CONTROL
                && ev.resource.as_deref().is_some_and(|r| r.ends_with(id))
        })
        .map(|ev| {
            (
                ev.payload["plan"]["playbook"].as_str().unwrap().to_string(),
                ev.payload["candidates"].clone(),
                ev.id,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_refused_baseline_gives_way_to_the_candidate_the_gate_lets_through() {
    custos_testkit::require_localstack().await;
    let account = custos_testkit::unique_account();
    let sdk = sdk(&account);
    let client = ec2(&sdk);
    let bastion = make_open_security_group(&client, &format!("bastion-{account}"))
        .await
        .unwrap();
    tag(&client, &bastion, "access", "bastion").await;
    let plain = make_open_security_group(&client, &format!("plain-{account}"))
        .await
        .unwrap();
    // A production bastion: the candidate is chosen there too, and waits for people
    // (no lower-environment proof yet), as many as its baseline would need.
    let prod = make_open_security_group(&client, &format!("prod-{account}"))
        .await
        .unwrap();
    tag(&client, &prod, "access", "bastion").await;
    tag(&client, &prod, "environment", "production").await;
    let open: BTreeSet<String> = ["0.0.0.0/0", "10.0.0.0/8"].map(String::from).into();
    assert_eq!(ssh_sources(&client, &bastion).await, open);

    let dir = tempfile::tempdir().unwrap();
    let (e, reader) = engine(&sdk, &account, dir.path(), "").await;
    run(
        &e,
        &reader,
        &[
            group(&account, &bastion),
            group(&account, &plain),
            group(&account, &prod),
        ],
    )
    .await;

    // Read from LocalStack: the bastion keeps SSH from the administrative range and the
    // range it had; the internet lost it. The plain group's open entry is revoked, and
    // nothing was added to it.
    let narrowed: BTreeSet<String> = ["10.0.0.0/8", ADMIN].map(String::from).into();
    assert_eq!(ssh_sources(&client, &bastion).await, narrowed);
    let revoked: BTreeSet<String> = ["10.0.0.0/8"].map(String::from).into();
    assert_eq!(ssh_sources(&client, &plain).await, revoked);

    // The record: both ways gated, the baseline refused by the operator's rule, why the
    // candidate was chosen; and the plain group kept its baseline.
    let b = decisions(&e, &bastion).await;
    assert_eq!(b.len(), 1, "{b:#?}");
    assert_eq!(b[0].0, "ec2-narrow-open-ingress");
    let c = &b[0].1["candidates"];
    assert_eq!(c[0]["playbook"], "ec2-revoke-open-ingress");
    assert_eq!(c[0]["gate"], "deny");
    assert_eq!(
        c[0]["refused_by"][0],
        "gate_rules.bastions.no_revoke_on_bastions"
    );
    assert_eq!(
        (c[0]["chosen"].as_bool(), c[1]["chosen"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(
        b[0].1["reason"]
            .as_str()
            .unwrap()
            .contains("refuses the baseline"),
        "{:#}",
        b[0].1
    );
    let p = decisions(&e, &plain).await;
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].0, "ec2-revoke-open-ingress");
    assert!(
        p[0].1["reason"]
            .as_str()
            .unwrap()
            .contains("no candidate's lower bound"),
        "{:#}",
        p[0].1
    );

    // The production bastion: untouched, its candidate waits for two people, as
    // `playbook_reviewers` asks of the baseline (the candidate is not named there).
    assert_eq!(ssh_sources(&client, &prod).await, open);
    let pending = e.ledger().approvals(None).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    assert_eq!(pending[0].plan.playbook, "ec2-narrow-open-ingress");
    assert_eq!(pending[0].plan.resource.resource_id, prod);
    assert_eq!(pending[0].required_reviewers, 2);
    // The reviewer reads why the candidate, not the baseline, is asked for.
    let note = pending[0]
        .decision
        .reasons
        .iter()
        .find(|r| r.rule == "engine.candidate_chosen")
        .expect("the choice among the decision's reasons");
    assert!(
        note.message.contains("`ec2-narrow-open-ingress` chosen")
            && note.message.contains("refuses the baseline"),
        "{note:#?}"
    );

    // Both choices replay from their records with the recorded bundle.
    for (_, _, id) in b.iter().chain(&p) {
        let r = e.replay(id).await.unwrap();
        assert!(r.reproduced, "{r:#?}");
    }

    // Ranking off: the baseline on a bastion, and its refusal stands (nothing changes).
    let again = make_open_security_group(&client, &format!("bastion2-{account}"))
        .await
        .unwrap();
    tag(&client, &again, "access", "bastion").await;
    let dir2 = tempfile::tempdir().unwrap();
    let (off, reader) = engine(&sdk, &account, dir2.path(), "fallback = \"baseline\"\n").await;
    run(&off, &reader, &[group(&account, &again)]).await;
    assert_eq!(ssh_sources(&client, &again).await, open);
    let d = decisions(&off, &again).await;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].0, "ec2-revoke-open-ingress");
    assert_eq!(d[0].1["fallback"], "baseline");
}
