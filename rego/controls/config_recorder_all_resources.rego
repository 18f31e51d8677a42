# AWS Config recorder records every supported resource type. Alert-only: a person acts on the finding; custos never executes anything for it.
package custos.controls.config_recorder_all_resources

metadata := {
	"id": "config-recorder-all-resources",
	"title": "AWS Config recorder records every supported resource type",
	"severity": "medium",
	"resource_types": ["AWS::Config::ConfigurationRecorder"],
	"frameworks": {
		"aws-fsbp": ["Config.1"],
		"fedramp-moderate": ["CM-8"],
		"cmmc-2.0-l2": ["CM.L2-3.4.1"],
		"cis-aws-foundations-v3.0": ["3.3"],
		"nist-800-53-r5": ["CM-8"],
		"nist-800-171-r2": ["3.4.1"],
	},
	"class": "alert",
	"guidance": "Record all supported resource types; global ones (IAM) in one region only, so they are not recorded, and billed, once per region. Keep the recorder's current role (`describe-configuration-recorders` shows it). It changes what Config bills for, so custos leaves it to a person.",
	"cli": [
		"aws configservice describe-configuration-recorders --region {region} --configuration-recorder-names {resource_name}",
		"aws configservice put-configuration-recorder --region {region} --configuration-recorder name=<recorder-name>,roleARN=<role-arn> --recording-group allSupported=true,includeGlobalResourceTypes=<true-in-one-region-only>",
	],
	"terraform": `resource "aws_config_configuration_recorder" "this" {
  name     = "{resource_name}"
  role_arn = "<role-arn>"
  recording_group {
    all_supported                 = true
    include_global_resource_types = true # in one region only
  }
}
`,
}

group := object.get(input, ["configuration", "RecordingGroup"], {})

violations contains "the recorder does not record all supported resource types" if {
	object.get(group, "AllSupported", false) != true
}
