# The policy gate: layer 1 of the Safety Sandwich.
#
# Input (built by the engine, see ARCHITECTURE.md):
#   plan      the plan as the gate sees it (resource, action, kinds, tags, environment,
#             production, related resource types, reversible, requires_approval)
#   run       {executions_so_far, executions_by_account, executions_by_class}
#   window    {hours, executions}: executions in the rolling window (from the ledger)
#   inventory {count_by_class}: resources of each class known to custos
#   time      {now, today, windows: [{name, environment, open}], blackouts: [{name, environments, active}]}
# Data:   data.custos.config (custos.toml [gate]).
# Output: `decisions`, a set of {"rule", "verdict", "message"}. The engine takes the most
# cautious verdict; no decision at all means the gate allows execution. A decision with
# verdict "execute" is a note (e.g. an expired exclusion) and restricts nothing.
#
# Operators extend the gate without editing this file: any package under
# `custos.gate_rules.<name>` that defines `decisions` is collected here.
package custos.gate

cfg := object.get(data, ["custos", "config"], {})

exclusion_tag := object.get(cfg, "exclusion_tag", "custos:exclude")

exclusion_owner_tag := object.get(cfg, "exclusion_owner_tag", "custos:exclude-owner")

# Entries are patterns, or {pattern, owner, reason, expires ("YYYY-MM-DD" or "")}.
exclusions := [normalize(e) | some e in object.get(cfg, "exclusions", [])]

exclusion_defaults := {"owner": "unknown", "reason": "no reason given", "expires": ""}

normalize(e) := object.union(exclusion_defaults, {"pattern": e}) if is_string(e)

normalize(e) := object.union(exclusion_defaults, e) if is_object(e)

max_actions_per_run := object.get(cfg, "max_actions_per_run", 25)

max_actions_per_account_per_run := object.get(cfg, "max_actions_per_account_per_run", max_actions_per_run)

max_actions_per_window := object.get(cfg, "max_actions_per_window", -1)

max_percent_of_class := object.get(cfg, "max_percent_of_class", 100)

# Below this many known resources of a class the percentage rule does not apply (one
# change to a class of three is not a blast radius).
min_class_size_for_percent := object.get(cfg, "min_class_size_for_percent", 10)

always_approve := object.get(cfg, "always_approve", [])

# Classes never automated, whatever autonomy says: at most "needs approval".
# This floor lives here, not in custos.toml, so configuration cannot lift it.
never_automate_classes := {"iam", "secretsmanager", "kms", "sso", "organizations", "acm-pca"}

never_automate_kinds := {"delete", "cross-account", "iam", "secret", "kms"}

plan := input.plan

today := object.get(input, ["time", "today"], "9999-12-31")

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

resource_names contains plan.arn if plan.arn

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
	input.run.executions_so_far >= max_actions_per_run
	d := {
		"rule": "gate.blast_radius.run",
		"verdict": "recommend_only",
		"message": sprintf("deferred: blast-radius limit of %d actions per run reached", [max_actions_per_run]),
	}
}

decisions contains d if {
	done := object.get(input.run, ["executions_by_account", plan.resource.account], 0)
	done >= max_actions_per_account_per_run
	d := {
		"rule": "gate.blast_radius.account",
		"verdict": "recommend_only",
		"message": sprintf("deferred: limit of %d actions per run in account %s reached", [max_actions_per_account_per_run, plan.resource.account]),
	}
}

decisions contains d if {
	max_actions_per_window >= 0
	input.window.executions >= max_actions_per_window
	d := {
		"rule": "gate.blast_radius.window",
		"verdict": "recommend_only",
		"message": sprintf("deferred: %d actions in the last %d hours, the limit is %d", [input.window.executions, input.window.hours, max_actions_per_window]),
	}
}

decisions contains d if {
	total := object.get(input, ["inventory", "count_by_class", plan.resource.class], 0)
	total >= min_class_size_for_percent
	done := object.get(input.run, ["executions_by_class", plan.resource.class], 0)
	(done + 1) * 100 > max_percent_of_class * total
	d := {
		"rule": "gate.blast_radius.percent",
		"verdict": "recommend_only",
		"message": sprintf("deferred: changing another %s resource would exceed %d%% of %d in one run", [plan.resource.class, max_percent_of_class, total]),
	}
}

# ---- change windows and blackouts (open/active is computed from cron + time zone) ----

applies(envs) if "*" in envs

applies(envs) if plan.environment in envs

windows_for_env := [w | some w in object.get(input, ["time", "windows"], []); applies([w.environment])]

decisions contains d if {
	count(windows_for_env) > 0
	not any_window_open
	names := concat(", ", [w.name | some w in windows_for_env])
	d := {
		"rule": "gate.change_window",
		"verdict": "needs_approval",
		"message": sprintf("outside the change window for `%s` (%s)", [plan.environment, names]),
	}
}

any_window_open if {
	some w in windows_for_env
	w.open
}

decisions contains d if {
	some b in object.get(input, ["time", "blackouts"], [])
	b.active
	applies(b.environments)
	d := {
		"rule": "gate.blackout",
		"verdict": "recommend_only",
		"message": sprintf("blackout `%s` is in effect: nothing is executed", [b.name]),
	}
}

# ---- actions that always need a human ----

decisions contains d if {
	plan.action in always_approve
	d := {
		"rule": "gate.always_approve_action",
		"verdict": "needs_approval",
		"message": sprintf("action `%s` always needs a human", [plan.action]),
	}
}

decisions contains d if {
	plan.resource.resource_type == "AWS::EC2::SecurityGroup"
	plan.production == true
	some t in object.get(plan, "related", [])
	startswith(t, "AWS::ElasticLoadBalancing")
	d := {
		"rule": "gate.production_sg_with_load_balancer",
		"verdict": "needs_approval",
		"message": "production security group attached to a load balancer: changes can cut live traffic",
	}
}

decisions contains d if {
	plan.requires_approval == true
	d := {
		"rule": "gate.playbook_requires_approval",
		"verdict": "needs_approval",
		"message": sprintf("playbook `%s` requires approval", [plan.playbook]),
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

# ---- operator extensions ----

decisions contains d if {
	some name
	some d in data.custos.gate_rules[name].decisions
}
