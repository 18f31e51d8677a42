# The operator gate: rules an operator may change, loaded from `policy.dir`.
#
# The floor (exclusions, blast radius, blackouts, the never-automate classes and kinds,
# irreversible actions, fail-closed defaults) is compiled into custos and evaluated on
# its own: nothing here can remove it. This package only adds caution.
#
# Input: the same as the floor's (see crates/custos-policy/floor/floor.rego); in
# particular `time.window` = {governed, open, names}: whether change windows govern the
# plan's environment (matched by the engine's one environment classification) and
# whether one is open now.
# Data:   data.custos.config (custos.toml [gate]).
# Output: `decisions`, a set of {"rule", "verdict", "message"}. A decision with verdict
# "execute" is a note and restricts nothing. This package must define `decisions`, or
# custos refuses to start.
#
# Operators add rules without editing this file: every package `custos.gate_rules.<name>`
# that defines `decisions` is evaluated on its own (an error in one cannot hide another).
package custos.gate

cfg := object.get(data, ["custos", "config"], {})

always_approve := object.get(cfg, "always_approve", [])

plan := input.plan

# ---- change windows (open/governed is computed from cron + time zone) ----

decisions contains d if {
	input.time.window.governed
	not input.time.window.open
	d := {
		"rule": "gate.change_window",
		"verdict": "needs_approval",
		"message": sprintf("outside the change window for `%s` (%s)", [plan.environment, concat(", ", input.time.window.names)]),
	}
}

# ---- actions that always need a human ----

# An action id names its IAM action, and a variant of it after a slash
# (`ec2:RevokeSecurityGroupIngress/narrow`): listing the IAM action covers every variant,
# so another way of fixing a control (a candidate) cannot step around the list.
decisions contains d if {
	some listed in always_approve
	listed in {plan.action, split(plan.action, "/")[0]}
	d := {
		"rule": "gate.always_approve_action",
		"verdict": "needs_approval",
		"message": sprintf("action `%s` always needs a human (`always_approve` lists `%s`)", [plan.action, listed]),
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
