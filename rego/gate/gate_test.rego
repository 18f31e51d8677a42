package custos.gate_test

import data.custos.gate

# Unit tests of the gate's building blocks. Every rule also has allowed and blocked
# scenarios in tests/fixtures/gate/ (run by the Rust test suite).

base_plan := {
	"action": "s3:PutPublicAccessBlock",
	"action_kinds": ["configure"],
	"playbook": "s3-block-public-access",
	"requires_approval": false,
	"reversible": true,
	"environment": "dev",
	"production": false,
	"arn": "arn:aws:s3:::data",
	"tags": {},
	"related": [],
	"resource": {"resource_id": "data", "resource_type": "AWS::S3::Bucket", "class": "s3", "account": "111122223333"},
}

cfg := {
	"exclusion_tag": "custos:exclude",
	"exclusions": ["legacy-*", {"pattern": "tmp-*", "owner": "bob", "reason": "migration", "expires": "2026-01-31"}],
	"max_actions_per_run": 2,
	"always_approve": ["s3:PutBucketPolicy"],
}

input_for(plan, n) := {"plan": plan, "run": {"executions_so_far": n}, "time": {"today": "2026-11-22"}}

run(plan, n) := result if {
	result := gate.decisions with input as input_for(plan, n) with data.custos.config as cfg
}

rules(plan, n) := {d.rule | some d in run(plan, n)}

test_clean_plan_has_no_decisions if {
	count(run(base_plan, 0)) == 0
}

test_string_and_object_exclusions_normalize if {
	es := gate.exclusions with data.custos.config as cfg
	es[0] == {"pattern": "legacy-*", "owner": "unknown", "reason": "no reason given", "expires": ""}
	es[1].owner == "bob"
}

test_expired_exclusion_is_a_note_not_a_deny if {
	p := object.union(base_plan, {"resource": object.union(base_plan.resource, {"resource_id": "tmp-1"})})
	ds := run(p, 0)
	{d.verdict | some d in ds} == {"execute"}
	{d.rule | some d in ds} == {"gate.exclusion_expired"}
}

test_verdicts_are_known if {
	p := object.union(base_plan, {"tags": {"custos:exclude": "true"}, "reversible": false})
	every d in run(p, 5) {
		d.verdict in {"execute", "deny", "needs_approval", "recommend_only"}
	}
}

test_operator_rules_are_collected if {
	ds := gate.decisions with input as input_for(base_plan, 0) with data.custos.config as cfg with data.custos.gate_rules.mine.decisions as {{"rule": "ops.custom", "verdict": "needs_approval", "message": "m"}}
	{d.rule | some d in ds} == {"ops.custom"}
}
