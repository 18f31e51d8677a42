package custos.gate_test

import data.custos.gate

base_plan := {
	"action": "s3:PutPublicAccessBlock",
	"action_kinds": ["configure"],
	"playbook": "s3-block-public-access",
	"requires_approval": false,
	"reversible": true,
	"arn": "arn:aws:s3:::data",
	"tags": {},
	"resource": {"resource_id": "data", "class": "s3"},
}

cfg := {
	"exclusion_tag": "custos:exclude",
	"exclusions": ["legacy-*"],
	"max_actions_per_run": 2,
	"always_approve": ["s3:PutBucketPolicy"],
}

run(plan, n) := result if {
	result := gate.decisions with input as {"plan": plan, "run": {"executions_so_far": n}} with data.custos.config as cfg
}

rules(plan, n) := {d.rule | some d in run(plan, n)}

test_clean_plan_has_no_decisions if {
	count(run(base_plan, 0)) == 0
}

test_exclusion_tag_denies if {
	rules(object.union(base_plan, {"tags": {"custos:exclude": "True"}}), 0) == {"gate.exclusion_tag"}
}

test_exclusion_tag_false_allows if {
	count(run(object.union(base_plan, {"tags": {"custos:exclude": "false"}}), 0)) == 0
}

test_exclusion_list_matches_id if {
	p := object.union(base_plan, {"resource": {"resource_id": "legacy-logs", "class": "s3"}})
	rules(p, 0) == {"gate.exclusion_list"}
}

test_blast_radius if {
	count(run(base_plan, 1)) == 0
	rules(base_plan, 2) == {"gate.blast_radius"}
}

test_always_approve if {
	rules(object.union(base_plan, {"action": "s3:PutBucketPolicy"}), 0) == {"gate.always_approve_action"}
}

test_irreversible_needs_approval if {
	rules(object.union(base_plan, {"reversible": false}), 0) == {"gate.irreversible"}
}

test_never_automate_class if {
	rules(object.union(base_plan, {"resource": {"resource_id": "r", "class": "iam"}}), 0) == {"gate.never_automate_class"}
}

test_never_automate_deletion if {
	rules(object.union(base_plan, {"action_kinds": ["delete"]}), 0) == {"gate.never_automate_kind"}
}

test_verdicts_are_known if {
	p := object.union(base_plan, {"tags": {"custos:exclude": "true"}, "reversible": false})
	every d in run(p, 5) {
		d.verdict in {"deny", "needs_approval", "recommend_only"}
	}
}
