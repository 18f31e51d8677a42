# The policy floor: compiled into the custos binary and always evaluated, in an engine of
# its own, whatever `policy.dir` or overlays hold. Configuration supplies values (the
# exclusion tag and list, the blast-radius limits); it cannot remove a rule.
#
# Input (built by the engine, see ARCHITECTURE.md):
#   plan      the plan as the gate sees it (resource, action, kinds, tags, environment,
#             production, reversible, requires_approval, operation)
#   run       {executions_so_far, executions_by_account, executions_by_class}: admitted
#             executions of this run (in service mode: of the rolling window)
#   window    {hours, executions}: admitted executions in the rolling window
#   inventory {count_by_class}: resources of each class known to custos
#   limits    {per_run, per_account_per_run, per_window, percent_of_class, min_class_size_for_percent}
#   time      {now, today, blackouts_active: [names], window: {governed, open, names},
#             resource_age_minutes (only when the resource's creation time is known)}:
#             blackouts and change windows are matched to the plan's environment class
#             by the engine (one classification for every layer)
#   history   {lower_environment_verified, lower_environment_required}: verified
#             non-production fixes of the plan's playbook version since its last
#             rollback, failure, revert or recurrence (folded from the ledger's events),
#             and how many production needs first;
#             rollout {stage, selected}: the playbook version's staged rollout
#             (`shadow`, `limited`, `broad`) and, in `limited`, whether this resource
#             is in the share that may be fixed without a person
# Data:   data.custos.config (custos.toml [gate]: exclusion tag and list).
# Output: `decisions`, a set of {"rule", "verdict", "message"}; the most cautious wins.
package custos.floor

cfg := object.get(data, ["custos", "config"], {})

exclusion_tag := object.get(cfg, "exclusion_tag", "custos:exclude")

exclusion_owner_tag := object.get(cfg, "exclusion_owner_tag", "custos:exclude-owner")

# Entries are patterns, or {pattern, owner, reason, expires ("YYYY-MM-DD" or "")}.
exclusions := [normalize(e) | some e in object.get(cfg, "exclusions", [])]

exclusion_defaults := {"owner": "unknown", "reason": "no reason given", "expires": ""}

normalize(e) := object.union(exclusion_defaults, {"pattern": e}) if is_string(e)

normalize(e) := object.union(exclusion_defaults, e) if is_object(e)

# Classes and kinds never automated, whatever autonomy says: at most "needs approval".
never_automate_classes := {"iam", "secretsmanager", "kms", "sso", "organizations", "acm-pca"}

never_automate_kinds := {"delete", "cross-account", "iam", "secret", "kms"}

plan := input.plan

limits := input.limits

today := input.time.today

# ---- fail closed: an incomplete input decides nothing but "deny" ----

problems contains "plan.resource.class" if not is_string(object.get(input, ["plan", "resource", "class"], null))

problems contains "plan.resource.account" if not is_string(object.get(input, ["plan", "resource", "account"], null))

problems contains "plan.resource.resource_id" if not is_string(object.get(input, ["plan", "resource", "resource_id"], null))

problems contains "plan.action" if not is_string(object.get(input, ["plan", "action"], null))

problems contains "plan.action_kinds" if not is_array(object.get(input, ["plan", "action_kinds"], null))

problems contains "plan.tags" if not is_object(object.get(input, ["plan", "tags"], null))

problems contains "plan.production" if not is_boolean(object.get(input, ["plan", "production"], null))

problems contains "plan.reversible" if not is_boolean(object.get(input, ["plan", "reversible"], null))

problems contains "plan.requires_approval" if not is_boolean(object.get(input, ["plan", "requires_approval"], null))

problems contains "time.today" if not regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, object.get(input, ["time", "today"], ""))

problems contains "time.blackouts_active" if not is_array(object.get(input, ["time", "blackouts_active"], null))

problems contains sprintf("limits.%s", [k]) if {
	some k in ["per_run", "per_account_per_run", "per_window", "percent_of_class", "min_class_size_for_percent"]
	not is_number(object.get(input, ["limits", k], null))
}

problems contains sprintf("%s", [k]) if {
	some k in ["run.executions_so_far", "window.executions", "history.lower_environment_verified", "history.lower_environment_required"]
	path := split(k, ".")
	not is_number(object.get(input, path, null))
}

problems contains "time.resource_age_minutes" if not is_number(object.get(input, ["time", "resource_age_minutes"], 0))

problems contains "history.rollout.stage" if not object.get(input, ["history", "rollout", "stage"], null) in {"shadow", "limited", "broad"}

problems contains "history.rollout.selected" if not is_boolean(object.get(input, ["history", "rollout", "selected"], null))

decisions contains d if {
	count(problems) > 0
	d := {
		"rule": "floor.input_invalid",
		"verdict": "deny",
		"message": sprintf("the gate input is incomplete (%s): nothing is executed", [concat(", ", sort([p | some p in problems]))]),
	}
}

# ---- exclusions ----

tag_value := plan.tags[exclusion_tag]

tag_owner := object.get(plan.tags, exclusion_owner_tag, "unknown")

tag_is_date if regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, trim_space(tag_value))

decisions contains d if {
	lower(trim_space(tag_value)) == "true"
	d := {
		"rule": "gate.exclusion_tag",
		"verdict": "deny",
		"message": sprintf("excluded by tag `%s=%s` (owner %s)", [exclusion_tag, tag_value, tag_owner]),
	}
}

decisions contains d if {
	tag_is_date
	today <= trim_space(tag_value)
	d := {
		"rule": "gate.exclusion_tag",
		"verdict": "deny",
		"message": sprintf("excluded by tag `%s` until %s (owner %s)", [exclusion_tag, trim_space(tag_value), tag_owner]),
	}
}

decisions contains d if {
	tag_is_date
	today > trim_space(tag_value)
	d := {
		"rule": "gate.exclusion_expired",
		"verdict": "execute",
		"message": sprintf("exclusion tag `%s` expired on %s (owner %s): no longer excluded", [exclusion_tag, trim_space(tag_value), tag_owner]),
	}
}

resource_names contains plan.resource.resource_id

resource_names contains plan.arn if is_string(plan.arn)

matches(e) if {
	some name in resource_names
	glob.match(e.pattern, [], name)
}

expired(e) if {
	e.expires != ""
	today > e.expires
}

decisions contains d if {
	some e in exclusions
	matches(e)
	not expired(e)
	until := object.get({"": "indefinitely"}, e.expires, sprintf("until %s", [e.expires]))
	d := {
		"rule": "gate.exclusion_list",
		"verdict": "deny",
		"message": sprintf("excluded by list entry `%s` %s (owner %s: %s)", [e.pattern, until, e.owner, e.reason]),
	}
}

decisions contains d if {
	some e in exclusions
	matches(e)
	expired(e)
	d := {
		"rule": "gate.exclusion_expired",
		"verdict": "execute",
		"message": sprintf("exclusion `%s` (owner %s) expired on %s: no longer excluded", [e.pattern, e.owner, e.expires]),
	}
}

# ---- blast radius: deferred (recommend only) so a later run continues the rollout ----

decisions contains d if {
	input.run.executions_so_far >= limits.per_run
	d := {
		"rule": "gate.blast_radius.run",
		"verdict": "recommend_only",
		"message": sprintf("deferred: blast-radius limit of %d actions per run reached", [limits.per_run]),
	}
}

decisions contains d if {
	done := object.get(input.run, ["executions_by_account", plan.resource.account], 0)
	done >= limits.per_account_per_run
	d := {
		"rule": "gate.blast_radius.account",
		"verdict": "recommend_only",
		"message": sprintf("deferred: limit of %d actions per run in account %s reached", [limits.per_account_per_run, plan.resource.account]),
	}
}

decisions contains d if {
	input.window.executions >= limits.per_window
	d := {
		"rule": "gate.blast_radius.window",
		"verdict": "recommend_only",
		"message": sprintf("deferred: %d actions in the last %d hours, the limit is %d", [input.window.executions, input.window.hours, limits.per_window]),
	}
}

decisions contains d if {
	total := object.get(input, ["inventory", "count_by_class", plan.resource.class], 0)
	total >= limits.min_class_size_for_percent
	done := object.get(input.run, ["executions_by_class", plan.resource.class], 0)
	(done + 1) * 100 > limits.percent_of_class * total
	d := {
		"rule": "gate.blast_radius.percent",
		"verdict": "recommend_only",
		"message": sprintf("deferred: changing another %s resource would exceed %d%% of %d in one run", [plan.resource.class, limits.percent_of_class, total]),
	}
}

# ---- blackouts: nothing executes while one is in effect for the plan's environment ----

decisions contains d if {
	some name in input.time.blackouts_active
	d := {
		"rule": "gate.blackout",
		"verdict": "recommend_only",
		"message": sprintf("blackout `%s` is in effect: nothing is executed", [name]),
	}
}

# ---- new resources: a pipeline tags and configures right after creating ----

grace_minutes := object.get(cfg, "new_resource_grace_minutes", 0)

decisions contains d if {
	is_number(grace_minutes)
	grace_minutes > 0
	age := input.time.resource_age_minutes
	is_number(age)
	age < grace_minutes
	plan.operation != "rollback"
	d := {
		"rule": "gate.new_resource_grace",
		"verdict": "recommend_only",
		"message": sprintf("deferred: the resource was created %d minute(s) ago (%s), inside the %d-minute grace period for new resources; a run after it ends fixes what is still wrong", [age, object.get(plan, "created", "unknown"), grace_minutes]),
	}
}

# ---- what the action is (from its executor's code, never lowered by a playbook) ----

decisions contains d if {
	plan.requires_approval == true
	d := {
		"rule": "gate.playbook_requires_approval",
		"verdict": "needs_approval",
		"message": sprintf("action `%s` (playbook `%s`) requires approval", [plan.action, plan.playbook]),
	}
}

decisions contains d if {
	plan.reversible == false
	d := {
		"rule": "gate.irreversible",
		"verdict": "needs_approval",
		"message": "the change cannot be rolled back exactly",
	}
}

# ---- the never-automate floor ----

# Alert-only controls (class `alert` in their metadata) have no playbook; this compiled
# list makes sure no operator playbook, overlay, autonomy level or approval can make
# one execute. The catalogue test checks it names exactly the shipped alert controls.
alert_only_controls := {
	"ec2-ebs-volume-encrypted",
	"ec2-ebs-snapshot-encrypted",
	"kms-key-not-pending-deletion",
	"cloudtrail-cloudwatch-logs",
	"config-recorder-all-resources",
	"logs-kms-encryption",
	"sns-topic-delivery-logging",
	"cloudtrail-enabled",
	"config-enabled",
	"rds-storage-encrypted",
	"rds-multi-az",
	"rds-iam-authentication",
	"rds-snapshot-encrypted",
	"iam-user-console-mfa",
	"iam-access-key-rotation",
	"iam-user-no-attached-policies",
	"iam-policy-no-admin",
	"iam-root-access-keys",
	"iam-root-mfa",
	"iam-access-key-unused",
	"iam-password-policy",
	"acm-certificate-expiry",
	"acm-rsa-key-length",
}

decisions contains d if {
	plan.control_id in alert_only_controls
	d := {
		"rule": "floor.alert_only",
		"verdict": "deny",
		"message": sprintf("control `%s` is alert-only: a person acts on its findings, custos never does", [plan.control_id]),
	}
}

# Identity is never changed by custos: its controls are alert-only, and a playbook an
# operator adds for an IAM resource (a user, a policy, the account's password policy)
# is denied too, whatever autonomy, overlay or approval says.
decisions contains d if {
	plan.resource.class == "iam"
	d := {
		"rule": "floor.identity",
		"verdict": "deny",
		"message": sprintf("`%s` is an identity resource: a person changes it, custos never does", [plan.resource.resource_type]),
	}
}

decisions contains d if {
	plan.resource.class in never_automate_classes
	d := {
		"rule": "gate.never_automate_class",
		"verdict": "needs_approval",
		"message": sprintf("resource class `%s` is never automated", [plan.resource.class]),
	}
}

decisions contains d if {
	some kind in plan.action_kinds
	kind in never_automate_kinds
	d := {
		"rule": "gate.never_automate_kind",
		"verdict": "needs_approval",
		"message": sprintf("`%s` actions are never automated", [kind]),
	}
}

# ---- infrastructure as code: custos does not fight the pipeline that would revert it ----

iac := object.get(cfg, "iac", {"markers": [{"key": "aws:cloudformation:stack-name", "value": null}], "direct_fix": "recommend"})

# Fail closed: anything but exactly `approve` or `allow` recommends only.
iac_verdict := "needs_approval" if object.get(iac, "direct_fix", "recommend") == "approve"

iac_verdict := "recommend_only" if not object.get(iac, "direct_fix", "recommend") in {"approve", "allow"}

managed_by_iac(m) if {
	object.get(m, "value", null) == null
	is_string(plan.tags[m.key])
}

managed_by_iac(m) if {
	v := object.get(m, "value", null)
	v != null
	plan.tags[m.key] == v
}

iac_marks := sort([sprintf("`%s=%s`", [m.key, plan.tags[m.key]]) | some m in object.get(iac, "markers", []); managed_by_iac(m)])

decisions contains d if {
	count(iac_marks) > 0
	plan.operation != "rollback"
	verdict := iac_verdict
	d := {
		"rule": "gate.managed_by_iac",
		"verdict": verdict,
		"message": sprintf("the resource is managed as code (tag %s): change it there (the guided fix's Terraform shows the end state); a fix made in the account would be reverted by the next deployment", [concat(", ", iac_marks)]),
	}
}

# ---- lower environments first: a playbook proves itself outside production ----

decisions contains d if {
	plan.production == true
	plan.operation != "rollback"
	input.history.lower_environment_verified < input.history.lower_environment_required
	d := {
		"rule": "gate.unproven_in_lower_environment",
		"verdict": "needs_approval",
		"message": sprintf("playbook `%s` has %d verified non-production fix(es) since its last rollback, failure or recurrence; its production fixes wait for a person until it has %d", [plan.playbook, input.history.lower_environment_verified, input.history.lower_environment_required]),
	}
}

# ---- staged rollout: a playbook version earns breadth (README, "Staged rollout") ----

decisions contains d if {
	input.history.rollout.stage == "shadow"
	plan.operation != "rollback"
	d := {
		"rule": "gate.rollout_shadow",
		"verdict": "needs_approval",
		"message": sprintf("playbook `%s` version %s is in shadow: custos records what it would do and a person decides, until its outcomes promote it", [plan.playbook, object.get(plan, "playbook_version", "unknown")]),
	}
}

decisions contains d if {
	input.history.rollout.stage == "limited"
	input.history.rollout.selected == false
	plan.operation != "rollback"
	d := {
		"rule": "gate.rollout_limited",
		"verdict": "needs_approval",
		"message": sprintf("playbook `%s` version %s is in limited rollout and this resource is outside its share (or the share's count is used up): a person decides", [plan.playbook, object.get(plan, "playbook_version", "unknown")]),
	}
}
