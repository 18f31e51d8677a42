package custos.gate_test

import data.custos.gate

# Unit tests of the operator gate. Every rule also has allowed and blocked scenarios in
# tests/fixtures/gate/ (run by the Rust test suite).

base_plan := {
	"action": "s3:PutPublicAccessBlock",
	"action_kinds": ["configure"],
	"playbook": "s3-block-public-access",
	"requires_approval": false,
	"reversible": true,
	"environment": "production",
	"production": true,
	"arn": "arn:aws:s3:::data",
	"tags": {},
	"related": [],
	"resource": {"resource_id": "data", "resource_type": "AWS::S3::Bucket", "class": "s3", "account": "111122223333"},
}

cfg := {"always_approve": ["s3:PutBucketPolicy"]}

input_for(plan, window) := {"plan": plan, "time": {"today": "2026-11-22", "window": window}}

closed := {"governed": true, "open": false, "names": ["saturday night"]}

open := {"governed": true, "open": true, "names": ["saturday night"]}

ungoverned := {"governed": false, "open": false, "names": []}

run(plan, window) := result if {
	result := gate.decisions with input as input_for(plan, window) with data.custos.config as cfg
}

test_clean_plan_has_no_decisions if {
	count(run(base_plan, ungoverned)) == 0
	count(run(base_plan, open)) == 0
}

test_a_closed_window_asks_a_human if {
	{d.rule | some d in run(base_plan, closed)} == {"gate.change_window"}
}

test_always_approve_actions if {
	p := object.union(base_plan, {"action": "s3:PutBucketPolicy"})
	{d.rule | some d in run(p, ungoverned)} == {"gate.always_approve_action"}
}

test_always_approve_covers_every_variant_of_the_action if {
	p := object.union(base_plan, {"action": "s3:PutBucketPolicy/narrow"})
	{d.rule | some d in run(p, ungoverned)} == {"gate.always_approve_action"}
	q := object.union(base_plan, {"action": "s3:PutBucketPolicyX"})
	count(run(q, ungoverned)) == 0
}
