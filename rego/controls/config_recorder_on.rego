# The region's AWS Config recorder records (FSBP Config.1, CIS 3.3). Human: recording costs money.
package custos.controls.config_recorder_on

metadata := {
	"id": "config-recorder-on",
	"title": "AWS Config recorder is recording",
	"severity": "medium",
	"resource_types": ["AWS::Config::ConfigurationRecorder"],
	"frameworks": {
		"aws-fsbp": ["Config.1"],
		"fedramp-moderate": ["CM-8", "CM-3"],
		"cmmc-2.0-l2": ["CM.L2-3.4.1"],
		"cis-aws-foundations-v3.0": ["3.3"],
		"nist-800-53-r5": ["CM-8", "CM-3"],
		"nist-800-171-r2": ["3.4.1"],
	},
	"remediation": "config-start-recorder",
	"class": "human",
	"terraform": `resource "aws_config_configuration_recorder_status" "this" {
  name       = "{resource_name}"
  is_enabled = true
  # the recorder starts only with a delivery channel: when Terraform manages it,
  # depends_on = [aws_config_delivery_channel.<name>]
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

violations contains "the recorder is stopped" if {
	object.get(input, ["configuration", "Recording"], true) == false
}
