# The policy gate: layer 1 of the Safety Sandwich.
#
# Input:  {"plan": {...}, "run": {"executions_so_far": n}}
# Data:   data.custos.config (from custos.toml [gate]).
# Output: `decisions`, a set of {"rule", "verdict", "message"}. The engine takes the most
# cautious verdict; no decision at all means the gate allows execution. Every rule id
# here appears in the ledger for every decision it shapes.
package custos.gate

cfg := object.get(data, ["custos", "config"], {})

exclusion_tag := object.get(cfg, "exclusion_tag", "custos:exclude")

exclusions := object.get(cfg, "exclusions", [])

max_actions_per_run := object.get(cfg, "max_actions_per_run", 25)

always_approve := object.get(cfg, "always_approve", [])

# Classes never automated, whatever autonomy says: at most "needs approval".
# This floor lives here, not in custos.toml, so configuration cannot lift it.
never_automate_classes := {"iam", "secretsmanager", "kms", "sso", "organizations", "acm-pca"}

never_automate_kinds := {"delete", "cross-account", "iam", "secret"}

plan := input.plan

decisions contains d if {
	value := plan.tags[exclusion_tag]
	lower(trim_space(value)) == "true"
	d := {
		"rule": "gate.exclusion_tag",
		"verdict": "deny",
		"message": sprintf("excluded by tag `%s=%s`", [exclusion_tag, value]),
	}
}

decisions contains d if {
	some pattern in exclusions
	some name in resource_names
	glob.match(pattern, [], name)
	d := {
		"rule": "gate.exclusion_list",
		"verdict": "deny",
		"message": sprintf("excluded by list entry `%s`", [pattern]),
	}
}

resource_names contains plan.resource.resource_id

resource_names contains plan.arn if plan.arn

decisions contains d if {
	input.run.executions_so_far >= max_actions_per_run
	d := {
		"rule": "gate.blast_radius",
		"verdict": "needs_approval",
		"message": sprintf("blast-radius limit of %d actions per run reached", [max_actions_per_run]),
	}
}

decisions contains d if {
	plan.action in always_approve
	d := {
		"rule": "gate.always_approve_action",
		"verdict": "needs_approval",
		"message": sprintf("action `%s` always needs a human", [plan.action]),
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
