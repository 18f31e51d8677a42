//! Issue 26, scope 5: every fix has a guided fix a person can run instead. For every
//! contract case, the plan's AWS CLI commands (`RemediationPlan::guided`, from
//! `Action::cli`) are run by the real AWS CLI (PyPI `awscli`) against the emulator that
//! holds the fixture, instead of the executor; the state read back from the emulator
//! must then satisfy the playbook, as the executor's own fix does. The oracle is the
//! read side (the scanner's item and the action's `satisfied`), not the code under test
//! (`cli`, which only writes requests).

use super::*;

/// One case, run by hand: `Err` says what went wrong.
async fn by_hand(case: &'static Case) -> Result<(), String> {
    let account = unique_account();
    let sdk = sdk(&account);
    let resource = setup(case.subject, &sdk, &account).await;
    let pool = Arc::new(
        AwsPool::with_account(sdk.clone(), account.clone(), BTreeMap::new())
            .with_interceptor(custos_testkit::MotoAccount(account.clone())),
    );
    let registry = Registry::new(custos_executor::all_executors(pool.clone()));
    let playbooks = playbooks(&registry.catalog(), &account, case.with_key);
    let reader = Inventory::new(pool, &[], 2);
    let pb = match case.playbook {
        Some(id) => playbooks.get(id).unwrap(),
        None => playbooks.baseline(case.control).unwrap(),
    };
    let ex = registry.get(&pb.action).unwrap().clone();
    let before_ci = read(&reader, &resource).await;
    let finding = custos_core::Finding {
        control_id: case.control.into(),
        title: String::new(),
        severity: custos_core::Severity::High,
        resource: before_ci.resource_ref(),
        frameworks: BTreeMap::new(),
        message: String::new(),
        remediation: Some(pb.id.clone()),
        guidance: None,
        terraform: Some("# the control's Terraform".into()),
    };
    let dev = custos_core::Environments::default().classify("dev");
    let plan = playbooks
        .plan_with(&registry.catalog(), &pb.id, &finding, &before_ci, &dev)
        .unwrap();
    let label = format!("{} ({})", case.control, pb.id);
    if ex.satisfied(&plan.before["facet"], &plan.parameters) {
        return Err(format!("{label}: the fixture is already compliant"));
    }
    let Some(g) = plan.guided.as_ref() else {
        return Err(format!("{label}: the plan has no guided fix"));
    };
    if g.cli.is_empty() || g.terraform.is_empty() {
        return Err(format!("{label}: an empty guided fix: {g:#?}"));
    }
    let dir = tempfile::tempdir().unwrap();
    for cmd in &g.cli {
        if !cmd.starts_with("aws ") || cmd.contains('\n') {
            return Err(format!("{label}: not one AWS CLI command: `{cmd}`"));
        }
        let out = custos_testkit::aws_cli(&account, dir.path())
            .args(["-c", cmd])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!(
                "{label}: `{cmd}` failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    // Read back from the emulator, as the executor's verification does (a change that
    // settles, like an RDS modification, is read until it has).
    let mut after = read(&reader, &resource).await;
    for _ in 0..30 {
        if ex.settling(&after).is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        after = read(&reader, &resource).await;
    }
    let facet = ex.facet_for(&after, &plan.parameters);
    let one_of_several = ex
        .subject(&plan.before["facet"], &plan.desired["facet"])
        .is_some();
    if ex.satisfied(&facet, &plan.parameters) || (one_of_several && facet == plan.desired["facet"])
    {
        Ok(())
    } else {
        Err(format!(
            "{label}: after {:?} the state read back does not satisfy the playbook: {facet:#}",
            g.cli
        ))
    }
}

#[tokio::test]
async fn every_fix_can_be_made_by_hand_with_its_guided_fix() {
    require_localstack().await;
    let mut runs: tokio::task::JoinSet<Result<(), String>> = tokio::task::JoinSet::new();
    let mut failures = Vec::new();
    for case in &CASES {
        // A few at a time: each command is a Python process.
        if runs.len() >= 4
            && let Some(done) = runs.join_next().await
        {
            failures.extend(done.unwrap().err());
        }
        runs.spawn(by_hand(case));
    }
    while let Some(done) = runs.join_next().await {
        failures.extend(done.unwrap().err());
    }
    assert!(
        failures.is_empty(),
        "{} of {} guided fixes did not fix:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}
