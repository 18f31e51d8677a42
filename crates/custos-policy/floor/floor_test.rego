package custos.floor_test

import data.custos.floor

# Unit tests of the compiled floor. Every rule also has allowed and blocked scenarios in
# tests/fixtures/gate/ (run by the Rust test suite through the evaluator).

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
	"operation": "fix",
	"resource": {"resource_id": "data", "resource_type": "AWS::S3::Bucket", "class": "s3", "account": "111122223333"},
}

cfg := {
	"exclusion_tag": "custos:exclude",
	"exclusions": ["legacy-*", {"pattern": "tmp-*", "owner": "bob", "reason": "migration", "expires": "2026-01-31"}],
}

limits := {"per_run": 2, "per_account_per_run": 2, "per_window": 100, "percent_of_class": 100, "min_class_size_for_percent": 10}

input_for(plan, n, blackouts) := {
	"plan": plan,
	"run": {"executions_so_far": n, "executions_by_account": {}, "executions_by_class": {}},
	"window": {"hours": 24, "executions": 0},
	"inventory": {"count_by_class": {}},
	"limits": limits,
	"time": {"now": "2026-11-22T12:00:00Z", "today": "2026-11-22", "blackouts_active": blackouts, "window": {"governed": false, "open": false, "names": []}},
	"history": {"lower_environment_verified": 0, "lower_environment_required": 0, "rollout": {"stage": "broad", "selected": true}},
}

run(plan, n) := result if {
	result := floor.decisions with input as input_for(plan, n, []) with data.custos.config as cfg
}

rules(ds) := {d.rule | some d in ds}

test_clean_plan_has_no_decisions if {
	count(run(base_plan, 0)) == 0
}

test_string_and_object_exclusions_normalize if {
	es := floor.exclusions with data.custos.config as cfg
	es[0] == {"pattern": "legacy-*", "owner": "unknown", "reason": "no reason given", "expires": ""}
	es[1].owner == "bob"
}

test_expired_exclusion_is_a_note_not_a_deny if {
	p := object.union(base_plan, {"resource": object.union(base_plan.resource, {"resource_id": "tmp-1"})})
	ds := run(p, 0)
	{d.verdict | some d in ds} == {"execute"}
	rules(ds) == {"gate.exclusion_expired"}
}

test_blackout_defers if {
	ds := floor.decisions with input as input_for(base_plan, 0, ["year end"]) with data.custos.config as cfg
	rules(ds) == {"gate.blackout"}
}

test_limit_reached_defers if {
	rules(run(base_plan, 2)) == {"gate.blast_radius.run"}
}

test_missing_input_fails_closed if {
	ds := floor.decisions with input as {"plan": base_plan} with data.custos.config as cfg
	some d in ds
	d.rule == "floor.input_invalid"
	d.verdict == "deny"
	contains(d.message, "time.today")
	contains(d.message, "limits.per_run")
}

test_an_untyped_plan_fails_closed if {
	p := object.union(base_plan, {"production": "no"})
	ds := run(p, 0)
	some d in ds
	d.rule == "floor.input_invalid"
	contains(d.message, "plan.production")
}

test_verdicts_are_known if {
	p := object.union(base_plan, {"tags": {"custos:exclude": "true"}, "reversible": false})
	every d in run(p, 5) {
		d.verdict in {"execute", "deny", "needs_approval", "recommend_only"}
	}
}

iam_plan(t) := object.union(base_plan, {"resource": object.union(base_plan.resource, {"resource_type": t, "class": "iam"})})

denials(ds) := {d.rule | some d in ds; d.verdict == "deny"}

test_identity_resources_are_denied if {
	denials(run(iam_plan("AWS::IAM::User"), 0)) == {"floor.identity"}
	denials(run(iam_plan("Custos::IAM::Account"), 0)) == {"floor.identity"}
	denials(run(base_plan, 0)) == set()
}

# ---- lower environments first ----

proven(plan, verified, required) := result if {
	i := object.union(input_for(plan, 0, []), {"history": {"lower_environment_verified": verified, "lower_environment_required": required}})
	result := {d.rule | some d in floor.decisions} with input as i with data.custos.config as cfg
}

prod_plan := object.union(base_plan, {"environment": "production", "production": true})

test_production_fix_unproven_needs_approval if {
	"gate.unproven_in_lower_environment" in proven(prod_plan, 2, 3)
}

test_production_fix_proven_passes if {
	not "gate.unproven_in_lower_environment" in proven(prod_plan, 3, 3)
}

test_lower_environment_fix_needs_no_proof if {
	not "gate.unproven_in_lower_environment" in proven(base_plan, 0, 3)
}

test_rollback_in_production_needs_no_proof if {
	not "gate.unproven_in_lower_environment" in proven(object.union(prod_plan, {"operation": "rollback"}), 0, 3)
}

test_no_proof_required_when_zero if {
	not "gate.unproven_in_lower_environment" in proven(prod_plan, 0, 0)
}

test_missing_history_denies if {
	i := json.remove(input_for(prod_plan, 0, []), ["history"])
	"floor.input_invalid" in {d.rule | some d in floor.decisions} with input as i with data.custos.config as cfg
}

# ---- staged rollout ----

staged(plan, stage, selected) := result if {
	i := object.union(input_for(plan, 0, []), {"history": {"rollout": {"stage": stage, "selected": selected}}})
	result := {d.rule | some d in floor.decisions} with input as i with data.custos.config as cfg
}

test_shadow_fix_needs_approval if {
	"gate.rollout_shadow" in staged(base_plan, "shadow", true)
}

test_shadow_rollback_passes if {
	not "gate.rollout_shadow" in staged(object.union(base_plan, {"operation": "rollback"}), "shadow", false)
}

test_limited_outside_the_share_needs_approval if {
	r := staged(base_plan, "limited", false)
	"gate.rollout_limited" in r
	not "gate.rollout_shadow" in r
}

test_limited_inside_the_share_passes if {
	r := staged(base_plan, "limited", true)
	not "gate.rollout_limited" in r
	not "gate.rollout_shadow" in r
}

test_broad_passes if {
	r := staged(base_plan, "broad", false)
	not "gate.rollout_limited" in r
	not "gate.rollout_shadow" in r
}

test_unknown_stage_denies if {
	"floor.input_invalid" in staged(base_plan, "wide", true)
}

test_missing_rollout_denies if {
	i := json.remove(input_for(base_plan, 0, []), ["history/rollout"])
	"floor.input_invalid" in {d.rule | some d in floor.decisions} with input as i with data.custos.config as cfg
}

# ---- infrastructure as code ----

iac_rules(tags, config) := r if {
	r := {d.rule: d.verdict | some d in floor.decisions} with input as input_for(object.union(base_plan, {"tags": tags}), 0, []) with data.custos.config as config
}

test_cloudformation_resource_is_recommend_only_by_default if {
	iac_rules({"aws:cloudformation:stack-name": "web"}, cfg)["gate.managed_by_iac"] == "recommend_only"
}

test_a_configured_terraform_marker_with_a_value if {
	c := object.union(cfg, {"iac": {"markers": [{"key": "managed-by", "value": "terraform"}], "direct_fix": "approve"}})
	iac_rules({"managed-by": "terraform"}, c)["gate.managed_by_iac"] == "needs_approval"
	not iac_rules({"managed-by": "pulumi"}, c)["gate.managed_by_iac"]
	not iac_rules({"aws:cloudformation:stack-name": "web"}, c)["gate.managed_by_iac"]
}

test_allow_lets_custos_fix_a_managed_resource if {
	c := object.union(cfg, {"iac": {"markers": [{"key": "aws:cloudformation:stack-name", "value": null}], "direct_fix": "allow"}})
	not iac_rules({"aws:cloudformation:stack-name": "web"}, c)["gate.managed_by_iac"]
}

test_an_unmanaged_resource_is_not_held if {
	not iac_rules({"owner": "web"}, cfg)["gate.managed_by_iac"]
}

test_rollback_of_a_managed_resource_is_not_held if {
	r := {d.rule | some d in floor.decisions} with input as input_for(object.union(base_plan, {"tags": {"aws:cloudformation:stack-name": "web"}, "operation": "rollback"}), 0, []) with data.custos.config as cfg
	not "gate.managed_by_iac" in r
}

test_an_unknown_direct_fix_recommends_only if {
	c := object.union(cfg, {"iac": {"markers": [{"key": "aws:cloudformation:stack-name", "value": null}], "direct_fix": "sometimes"}})
	iac_rules({"aws:cloudformation:stack-name": "web"}, c)["gate.managed_by_iac"] == "recommend_only"
}

# ---- the new-resource grace period ----

grace_rules(age, grace, operation) := r if {
	i := input_for(object.union(base_plan, {"operation": operation, "created": "2026-11-22T11:50:00Z"}), 0, [])
	t := object.union(i.time, {"resource_age_minutes": age})
	r := {d.rule: d.verdict | some d in floor.decisions} with input as object.union(i, {"time": t}) with data.custos.config as object.union(cfg, {"new_resource_grace_minutes": grace})
}

test_a_new_resource_waits_out_its_grace_period if {
	grace_rules(10, 30, "fix")["gate.new_resource_grace"] == "recommend_only"
	# A creation time after `now` (clocks differ) is inside the period too.
	grace_rules(-2, 30, "fix")["gate.new_resource_grace"] == "recommend_only"
}

test_an_older_resource_or_no_grace_is_not_held if {
	not grace_rules(30, 30, "fix")["gate.new_resource_grace"]
	not grace_rules(10, 0, "fix")["gate.new_resource_grace"]
}

test_a_rollback_of_a_new_resource_is_not_held if {
	not grace_rules(1, 30, "rollback")["gate.new_resource_grace"]
}

test_an_unknown_creation_time_is_not_held if {
	not "gate.new_resource_grace" in rules(run(base_plan, 0)) with data.custos.config as object.union(cfg, {"new_resource_grace_minutes": 30})
}

test_a_malformed_age_denies if {
	i := input_for(base_plan, 0, [])
	ds := floor.decisions with input as object.union(i, {"time": object.union(i.time, {"resource_age_minutes": "old"})}) with data.custos.config as cfg
	"floor.input_invalid" in rules(ds)
}
