#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! `custos evidence export` of a real run on LocalStack (the demo's buckets: fixes made by
//! custos, one approved, one rolled back, some left open on purpose): the OSCAL of every
//! framework validates against NIST's schema; where each bucket stands is checked against
//! the buckets read back from LocalStack, and each requirement's status against the
//! controls' own mappings read from the Rego sources; a requirement nothing was evaluated
//! for is never satisfied; the CSV holds the same rows; the linked bundles verify.

use custos_testkit::{Fixture, pytools, require_localstack, s3, sdk, seed};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::*;

const FRAMEWORKS: [(&str, &str); 5] = [
    ("cis", "cis-aws-foundations-v3.0"),
    ("nist-800-53", "nist-800-53-r5"),
    ("nist-800-171", "nist-800-171-r2"),
    ("fedramp-moderate", "fedramp-moderate"),
    ("cmmc-l2", "cmmc-2.0-l2"),
];

/// Each control's metadata, read from the Rego source (its `metadata` object is JSON but
/// for comments and trailing commas), not through custos.
fn rego_controls() -> Vec<Value> {
    let mut out = vec![];
    for entry in std::fs::read_dir(repo().join("rego/controls")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rego") || name.ends_with("_test.rego") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("metadata := {").unwrap() + "metadata := ".len();
        // Comments dropped (none sit inside the object's strings), then the object up to
        // its closing brace, strings (and raw strings, which become JSON strings) passed
        // through, trailing commas dropped.
        let body: Vec<char> = text[start..]
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .chars()
            .collect();
        let mut json = String::new();
        let mut raw: Option<String> = None;
        let (mut quoted, mut escaped, mut depth) = (false, false, 0);
        for (i, c) in body.iter().enumerate() {
            if let Some(r) = raw.as_mut() {
                if *c == '`' {
                    json.push_str(&serde_json::to_string(&r).unwrap());
                    raw = None;
                } else {
                    r.push(*c);
                }
                continue;
            }
            if quoted {
                json.push(*c);
                match (*c, escaped) {
                    (_, true) => escaped = false,
                    ('\\', false) => escaped = true,
                    ('"', false) => quoted = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => quoted = true,
                '`' => {
                    raw = Some(String::new());
                    continue;
                }
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
            let next = body[i + 1..].iter().find(|c| !c.is_whitespace());
            if *c == ',' && matches!(next, Some('}') | Some(']')) {
                continue;
            }
            json.push(*c);
            if depth == 0 {
                break;
            }
        }
        out.push(serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    out
}

/// Whether a bucket complies with a control, read back from LocalStack.
async fn complies(client: &aws_sdk_s3::Client, bucket: &str, control: &str) -> bool {
    match control {
        "s3-public-access-block" => {
            match client.get_public_access_block().bucket(bucket).send().await {
                Ok(r) => r.public_access_block_configuration().is_some_and(|c| {
                    c.block_public_acls() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                }),
                Err(_) => false,
            }
        }
        "s3-default-encryption" => client
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .is_ok_and(|r| {
                r.server_side_encryption_configuration()
                    .is_some_and(|c| !c.rules().is_empty())
            }),
        "s3-versioning" => client
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .unwrap()
            .status()
            .is_some_and(|s| s.as_str() == "Enabled"),
        // This run's custos.toml sets neither `[controls] log_bucket` nor `s3_sse_kms`
        // nor `required_tags`: none applies, so every bucket complies.
        "s3-access-logging" | "s3-sse-kms" | "required-tags" => true,
        // No fixture bucket has a policy, so none lets anyone in; a fixture with one
        // would need an oracle that reads it.
        "s3-bucket-policy-public" => match client.get_bucket_policy().bucket(bucket).send().await {
            Ok(r) => panic!("fixture bucket `{bucket}` has a policy: {:?}", r.policy()),
            Err(e) => {
                aws_sdk_s3::error::ProvideErrorMetadata::code(&e) == Some("NoSuchBucketPolicy")
            }
        },
        other => panic!("no oracle for `{other}`"),
    }
}

fn prop<'a>(v: &'a Value, name: &str) -> &'a str {
    v["props"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in {v}"))["value"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn the_export_of_a_real_run_validates_and_says_what_localstack_shows() {
    require_localstack().await;
    let env = Env::new();
    let client = s3(&sdk(&env.account));
    let key = env.dir.path().join("custos.key");
    let out = env.custos(&[
        "audit",
        "keygen",
        "--name",
        "custos.test/ledger",
        "--out",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    env.write_config(&format!(
        "[evidence]\nsigning_key_file = {key:?}\nwitness_dir = {:?}\n",
        env.dir.path().join("witness")
    ));
    let prefix = format!("x{}", env.account);
    let buckets: BTreeMap<String, Fixture> =
        seed(&client, &prefix).await.unwrap().into_iter().collect();
    let bucket = |f: Fixture| format!("{prefix}-{}", f.suffix());

    // Nothing evaluated yet: every requirement is listed, none satisfied.
    let empty = env.dir.path().join("empty.json");
    let out = env.custos(&[
        "evidence",
        "export",
        "--framework",
        "nist-800-53",
        "--format",
        "oscal",
        "--out",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&empty).unwrap()).unwrap();
    assert_eq!(
        pytools::oscal_errors(&doc.to_string()),
        Vec::<String>::new()
    );
    let result = &doc["assessment-results"]["results"][0];
    assert!(result.get("observations").is_none() && result.get("risks").is_none());
    let findings = result["findings"].as_array().unwrap();
    let mapped: BTreeSet<String> = rego_controls()
        .iter()
        .flat_map(|c| {
            c["frameworks"]["nist-800-53-r5"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(findings.len(), mapped.len());
    for f in findings {
        assert_eq!(f["target"]["status"]["state"], "not-satisfied", "{f}");
        assert_eq!(f["target"]["status"]["reason"], "not-assessed", "{f}");
    }

    // The demo's run: dev buckets fixed, production asks, excluded and incident left.
    env.token("alice");
    env.json(&["run", "--once"]);
    let pending = env.json(&["approvals", "list"]);
    let prod = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["plan"]["resource"]["resource_id"] == bucket(Fixture::Production).as_str()
                && a["plan"]["control_id"] == "s3-public-access-block"
        })
        .unwrap_or_else(|| panic!("no request for the production bucket: {pending:#}"));
    let ok = env.json_as(
        "alice",
        &[
            "approvals",
            "approve",
            prod["id"].as_str().unwrap(),
            "--comment",
            "SEC-12",
        ],
    );
    assert_eq!(ok["execution"]["outcome"], "fixed", "{ok:#}");
    // The next run finds the fixed buckets passing; then one fix is undone after that
    // passing evaluation: the public bucket is public again.
    env.json(&["run", "--once"]);
    let events = env.all_events();
    let public_fix = events
        .iter()
        .find(|e| {
            e["kind"] == "action.executed"
                && e["resource"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{}", bucket(Fixture::NoPublicAccessBlock)))
        })
        .unwrap()["payload"]["action_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rb = env.custos_as("alice", &["rollback", &public_fix]);
    assert_eq!(rb.status.code(), Some(0), "{}", text(&rb));
    // The compliant bucket is deleted, and AWS Config says so (an EventBridge change
    // notification, as AWS sends it): it no longer counts for anything.
    let gone = bucket(Fixture::Compliant);
    client.delete_bucket().bucket(&gone).send().await.unwrap();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let deletion = serde_json::json!({
        "version": "0", "id": "0d5e3c1a-7f52-4a8e-9b0e-3f1d2c4b5a69",
        "detail-type": "Config Configuration Item Change", "source": "aws.config",
        "account": env.account, "time": now, "region": "us-east-1", "resources": [],
        "detail": {
            "messageType": "ConfigurationItemChangeNotification",
            "configurationItemDiff": {"changeType": "DELETE", "changedProperties": {}},
            "configurationItem": {
                "configurationItemVersion": "1.3", "configurationItemCaptureTime": now,
                "configurationItemStatus": "ResourceDeleted", "awsAccountId": env.account,
                "awsRegion": "us-east-1", "resourceType": "AWS::S3::Bucket",
                "resourceId": gone, "resourceName": gone, "ARN": format!("arn:aws:s3:::{gone}"),
                "tags": {}, "relatedEvents": [], "relationships": [],
                "configuration": null, "supplementaryConfiguration": {},
            },
        },
    });
    let file = env.dir.path().join("deleted.json");
    std::fs::write(&file, deletion.to_string()).unwrap();
    env.json(&["run", "--once", "--replay", file.to_str().unwrap()]);

    // The oracle: each seeded bucket on each S3 control, read back from LocalStack; the
    // account's other resources (its default security group, EBS encryption by default)
    // as their latest evaluation in `history` says, none of them having been changed.
    let events = env.all_events();
    let mut truth: BTreeMap<(String, String), bool> = BTreeMap::new();
    for e in events.iter().filter(|e| e["kind"] == "resource.evaluated") {
        let failing = e["payload"]["failing"].as_array().unwrap();
        for c in e["payload"]["controls"].as_array().unwrap() {
            truth.insert(
                (
                    e["resource"].as_str().unwrap().into(),
                    c.as_str().unwrap().into(),
                ),
                !failing.contains(c),
            );
        }
    }
    let existing: BTreeSet<String> = client
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert!(!existing.contains(&gone));
    truth.retain(|(resource, _), _| {
        resource
            .split_once("/AWS::S3::Bucket/")
            .is_none_or(|(_, name)| existing.contains(name))
    });
    let s3_controls = [
        "s3-public-access-block",
        "s3-default-encryption",
        "s3-versioning",
        "s3-access-logging",
        "s3-sse-kms",
        "s3-bucket-policy-public",
        "required-tags",
    ];
    let mut read_back = 0;
    for ((resource, control), ok) in truth.iter_mut() {
        match resource.split_once("/AWS::S3::Bucket/") {
            Some((_, name)) => {
                assert!(buckets.contains_key(name), "{resource}");
                assert!(s3_controls.contains(&control.as_str()), "{control}");
                *ok = complies(&client, name, control).await;
                read_back += 1;
            }
            None => assert!(
                !events
                    .iter()
                    .any(|e| e["kind"] == "action.executed" && e["resource"] == resource.as_str()),
                "{resource} was changed: its evaluation is no longer the truth"
            ),
        }
    }
    assert_eq!(read_back, (buckets.len() - 1) * s3_controls.len());
    let on = |name: String, control: &str| {
        truth
            .iter()
            .find(|((r, c), _)| r.ends_with(&format!("/{name}")) && c == control)
            .map(|(_, ok)| *ok)
            .unwrap()
    };
    assert!(
        !on(
            bucket(Fixture::NoPublicAccessBlock),
            "s3-public-access-block"
        ),
        "rolled back"
    );
    assert!(
        on(bucket(Fixture::Production), "s3-public-access-block"),
        "approved"
    );
    assert!(
        on(bucket(Fixture::NoEncryption), "s3-default-encryption"),
        "fixed by the run"
    );
    assert!(
        !on(bucket(Fixture::Excluded), "s3-public-access-block"),
        "excluded"
    );

    let controls = rego_controls();
    for (arg, key) in FRAMEWORKS {
        let before = env.all_events();
        // OSCAL: valid against NIST's schema.
        let file = env.dir.path().join(format!("{arg}.oscal.json"));
        let out = env.custos(&[
            "evidence",
            "export",
            "--framework",
            arg,
            "--out",
            file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let raw = std::fs::read_to_string(&file).unwrap();
        assert_eq!(pytools::oscal_errors(&raw), Vec::<String>::new(), "{arg}");
        let doc: Value = serde_json::from_str(&raw).unwrap();
        let result = &doc["assessment-results"]["results"][0];

        // Where each bucket stands (JSON export) is what LocalStack shows.
        let json = env.custos(&["evidence", "export", "--framework", arg, "--format", "json"]);
        assert_eq!(json.status.code(), Some(0), "{}", text(&json));
        let json: Value = serde_json::from_slice(&json.stdout).unwrap();
        let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
        for r in json["requirements"].as_array().unwrap() {
            for s in r["subjects"].as_array().unwrap() {
                seen.insert(
                    (
                        s["resource"].as_str().unwrap().into(),
                        s["control"].as_str().unwrap().into(),
                    ),
                    s["standing"].as_str().unwrap().into(),
                );
            }
        }
        let mapped: Vec<&str> = controls
            .iter()
            .filter(|m| !m["frameworks"][key].as_array().unwrap().is_empty())
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        let expected: BTreeMap<(String, String), bool> = truth
            .iter()
            .filter(|((_, c), _)| mapped.contains(&c.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{arg}: subjects"
        );
        for (k, ok) in &expected {
            let standing = &seen[k];
            assert_eq!(
                matches!(standing.as_str(), "pass" | "remediated"),
                *ok,
                "{arg}: {k:?} is {standing}"
            );
        }

        // Each requirement: from the Rego mappings and the truth above. Satisfied only if
        // every mapped control was evaluated on something and everything passed.
        let findings = result["findings"].as_array().unwrap();
        let mut requirements: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for m in &controls {
            for r in m["frameworks"][key].as_array().unwrap() {
                requirements
                    .entry(r.as_str().unwrap().into())
                    .or_default()
                    .push(m["id"].as_str().unwrap());
            }
        }
        assert_eq!(findings.len(), requirements.len(), "{arg}");
        for f in findings {
            let label = prop(f, "label");
            let subjects: Vec<bool> = expected
                .iter()
                .filter(|((_, c), _)| requirements[label].contains(&c.as_str()))
                .map(|(_, ok)| *ok)
                .collect();
            let unevaluated = requirements[label]
                .iter()
                .filter(|c| !expected.keys().any(|(_, k)| k == *c))
                .count();
            let (state, reason) = if subjects.is_empty() {
                ("not-satisfied", "not-assessed")
            } else if !subjects.iter().all(|ok| *ok) {
                ("not-satisfied", "fail")
            } else if unevaluated > 0 {
                ("not-satisfied", "partially-assessed")
            } else {
                ("satisfied", "pass")
            };
            assert_eq!(
                (
                    f["target"]["status"]["state"].as_str().unwrap(),
                    f["target"]["status"]["reason"].as_str().unwrap()
                ),
                (state, reason),
                "{arg} {label}"
            );
        }
        // A risk for every (bucket, control) LocalStack shows failing, and no other.
        let risks: BTreeSet<(String, String)> = result["risks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            prop(r, "resource").to_string(),
                            prop(r, "control").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let failing: BTreeSet<(String, String)> = expected
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(risks, failing, "{arg}");
        // An alert-only control's open risk carries what a person applies (its commands
        // filled in for the account and region), and no other risk does: exactly one
        // recommendation per failing alert-only subject.
        let alert: BTreeMap<&str, &Value> = controls
            .iter()
            .filter(|m| m["class"] == "alert")
            .map(|m| (m["id"].as_str().unwrap(), m))
            .collect();
        let mut recommended = 0;
        for r in result["risks"].as_array().into_iter().flatten() {
            let control = prop(r, "control");
            let Some(meta) = alert.get(control) else {
                assert!(r.get("remediations").is_none(), "{arg}: {r}");
                continue;
            };
            let rem = &r["remediations"][0];
            assert_eq!(rem["lifecycle"], "recommendation", "{arg}: {r}");
            assert_eq!(rem["description"], meta["guidance"], "{arg}: {r}");
            let remarks = rem["remarks"].as_str().unwrap();
            for cmd in meta["cli"].as_array().unwrap() {
                let cmd = cmd.as_str().unwrap();
                if cmd.contains("{resource_") {
                    continue;
                }
                let filled = cmd
                    .replace("{region}", "us-east-1")
                    .replace("{account}", &env.account);
                assert!(
                    remarks.contains(&filled),
                    "{arg}: `{filled}` not in {remarks}"
                );
            }
            recommended += 1;
        }
        let alert_failing = failing
            .iter()
            .filter(|(_, c)| alert.contains_key(c.as_str()))
            .count();
        assert_eq!(recommended, alert_failing, "{arg}");
        if arg == "nist-800-53" {
            // The run's account has no trail: CloudTrail.1 is open, alert-only.
            assert!(
                failing.iter().any(|(_, c)| c == "cloudtrail-enabled"),
                "{failing:?}"
            );
        }
        // One observation per evaluation with a control mapped to the framework; a log
        // entry for every other event but the findings and observation records.
        let evaluations = before
            .iter()
            .filter(|e| {
                e["kind"] == "resource.evaluated"
                    && e["payload"]["controls"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| mapped.contains(&c.as_str().unwrap()))
            })
            .count();
        assert_eq!(
            result["observations"].as_array().unwrap().len(),
            evaluations,
            "{arg}"
        );
        let logged = before
            .iter()
            .filter(|e| {
                !["resource.evaluated", "finding", "observation.recorded"]
                    .contains(&e["kind"].as_str().unwrap())
            })
            .count();
        assert_eq!(
            result["assessment-log"]["entries"]
                .as_array()
                .unwrap()
                .len(),
            logged,
            "{arg}"
        );

        // CSV: the same rows, one per requirement and (resource, control), and one per
        // mapped control nothing was evaluated for.
        let csv = env.custos(&["evidence", "export", "--framework", arg, "--format", "csv"]);
        assert_eq!(csv.status.code(), Some(0), "{}", text(&csv));
        let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let expected_rows: usize = requirements
            .values()
            .map(|cs| {
                let subjects = expected
                    .keys()
                    .filter(|(_, c)| cs.contains(&c.as_str()))
                    .count();
                let unevaluated = cs
                    .iter()
                    .filter(|c| !expected.keys().any(|(_, k)| k == *c))
                    .count();
                subjects + unevaluated
            })
            .sum();
        assert_eq!(rows.len(), expected_rows, "{arg}");

        // Small pages give the same export as the default ones.
        let paged = env.custos(&[
            "evidence",
            "export",
            "--framework",
            arg,
            "--format",
            "json",
            "--page-size",
            "3",
        ]);
        assert_eq!(paged.status.code(), Some(0), "{}", text(&paged));
        let mut paged: Value = serde_json::from_slice(&paged.stdout).unwrap();
        let mut whole = json.clone();
        for d in [&mut paged, &mut whole] {
            d["generated"] = Value::Null;
            d["until"] = Value::Null;
            d["checkpoint"] = Value::Null;
        }
        assert!(
            json["evaluation_events"].as_array().unwrap().len() > 6,
            "more than two pages of evaluations"
        );
        // Events recorded since (the exports' own records) are outside the earlier export.
        let n = whole["evaluation_events"].as_array().unwrap().len();
        assert_eq!(
            paged["evaluation_events"].as_array().unwrap()[..n],
            whole["evaluation_events"].as_array().unwrap()[..]
        );
        paged["evaluation_events"] = Value::Null;
        whole["evaluation_events"] = Value::Null;
        paged["events"] = Value::Null;
        whole["events"] = Value::Null;
        paged["last_index"] = Value::Null;
        whole["last_index"] = Value::Null;
        assert_eq!(paged, whole, "{arg}");
    }

    // The fixes the observations link to: their bundles verify offline.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join("nist-800-53.oscal.json")).unwrap(),
    )
    .unwrap();
    let linked: BTreeSet<String> = doc["assessment-results"]["results"][0]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["relevant-evidence"].as_array().unwrap().iter())
        .filter_map(|e| {
            e["href"]
                .as_str()
                .and_then(|h| h.strip_prefix("bundles/"))
                .map(|h| h.trim_end_matches(".json").to_string())
        })
        .collect();
    let executed: BTreeSet<String> = env
        .all_events()
        .iter()
        .filter(|e| e["kind"] == "action.executed" && e["payload"]["kind"] != "rollback")
        .map(|e| e["payload"]["action_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        linked, executed,
        "every verified fix (the rolled back one too) is linked from the evaluation it fixed"
    );
    let public = env.dir.path().join("custos.key.pub");
    for action in &linked {
        let file = env.dir.path().join(format!("{action}.json"));
        let out = env.custos(&["evidence", "show", action, "--out", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let out = env.custos(&[
            "evidence",
            "verify",
            file.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // Every export is recorded, with the digest of what it wrote.
    let exported: Vec<Value> = env
        .all_events()
        .into_iter()
        .filter(|e| e["kind"] == "evidence.exported")
        .collect();
    assert_eq!(exported.len(), 1 + 4 * FRAMEWORKS.len());
    let bytes = std::fs::read(&empty).unwrap();
    use sha2::Digest;
    assert_eq!(
        exported[0]["payload"]["written"]["sha256"],
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
    );

    // Retention. Only a policy admin prunes; events of live work are never pruned.
    let all = env.all_events();
    let first_run = all.iter().find(|e| e["kind"] == "run.started").unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    let last_run = all
        .iter()
        .rev()
        .find(|e| e["kind"] == "run.started")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    let denied = env.custos_as("alice", &["ledger", "prune", "--before", &first_run]);
    assert_eq!(denied.status.code(), Some(6), "{}", text(&denied));
    let live = env.custos_as("admin", &["ledger", "prune", "--before", &last_run]);
    assert_eq!(live.status.code(), Some(5), "{}", text(&live));
    assert!(
        text(&live).contains("live work would lose its events: approval apr-"),
        "{}",
        text(&live)
    );
    let before = env.all_events().len();
    // Everything before the first run (principals and tokens) goes; the log still verifies.
    let pruned = env.json_as("admin", &["ledger", "prune", "--before", &first_run]);
    let gone = all.iter().position(|e| e["kind"] == "run.started").unwrap() as u64;
    assert_eq!(
        (pruned["horizon"].as_u64(), pruned["events"].as_u64()),
        (Some(gone), Some(gone)),
        "{pruned:#}"
    );
    let report = env.json(&["audit", "verify", "--public-key", public.to_str().unwrap()]);
    assert_eq!(report["counts"], serde_json::json!({}), "{report:#}");
    assert_eq!(report["pruned"], gone);
    assert_eq!(
        report["events"].as_u64().unwrap(),
        before as u64 - gone + 1,
        "the prune's own event stays"
    );
    let history = env.json(&["history", "--verify", "--limit", "5"]);
    assert_eq!(history["chain"]["events"], report["events"], "{history:#}");
    assert_eq!(history["chain"]["first_bad"], Value::Null, "{history:#}");
    // And the evidence of the period that remains still exports and validates.
    let out = env.custos(&["evidence", "export", "--framework", "nist-800-53"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        pytools::oscal_errors(&String::from_utf8(out.stdout).unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn the_schema_check_finds_a_broken_document() {
    // The oracle can fail: a finding whose status is not one of OSCAL's, a missing title.
    let doc = serde_json::json!({"assessment-results": {
        "uuid": "6f0c2a6e-54c1-4f3b-9d2e-7b1ac0de5a17",
        "metadata": {"title": "t", "last-modified": "2026-11-23T10:00:00Z", "version": "1", "oscal-version": "1.0.4"},
        "import-ap": {"href": "#x"},
        "results": [{"uuid": "6f0c2a6e-54c1-4f3b-9d2e-7b1ac0de5a17", "description": "d", "start": "2026-11-23T10:00:00Z",
            "reviewed-controls": {"control-selections": [{"include-all": {}}]},
            "findings": [{"uuid": "6f0c2a6e-54c1-4f3b-9d2e-7b1ac0de5a17", "title": "f", "description": "d",
                "target": {"type": "objective-id", "target-id": "ac-3", "status": {"state": "probably"}}}]}],
    }});
    let errors = pytools::oscal_errors(&doc.to_string());
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("\"title\" is a required property")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("\"probably\"")),
        "{errors:#?}"
    );
}
