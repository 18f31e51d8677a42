# The region has an AWS Config recorder (FSBP Config.1, CIS 3.3; part of Config.1: whether the recorder uses the
# service-linked role is not checked here). Alert-only: a recorder needs an IAM role (Config's
# service-linked role) and a delivery channel, and custos never changes IAM; once a recorder exists,
# `config-recorder-on` starts it with an approval.
package custos.controls.config_enabled

metadata := {
	"id": "config-enabled",
	"title": "AWS Config has a recorder in the region",
	"severity": "critical",
	"resource_types": ["AWS::::Account"],
	"frameworks": {
		"aws-fsbp": ["Config.1"],
		"fedramp-moderate": ["CM-8", "CM-3"],
		"cmmc-2.0-l2": ["CM.L2-3.4.1"],
		"cis-aws-foundations-v3.0": ["3.3"],
		"nist-800-53-r5": ["CM-8", "CM-3"],
		"nist-800-171-r2": ["3.4.1"],
	},
	"class": "alert",
	"guidance": "Create Config's service-linked role and a bucket whose policy lets `config.amazonaws.com` write to it, then a recorder of all supported types (global ones in one region only), a delivery channel to the bucket, and start the recorder. In us-east-1 leave out `--create-bucket-configuration`. It needs an IAM role, so custos leaves it to a person; once a recorder exists, `config-recorder-on` starts it with an approval.",
	"cli": [
		"aws iam create-service-linked-role --aws-service-name config.amazonaws.com",
		"aws s3api create-bucket --region {region} --bucket <bucket-name> --create-bucket-configuration LocationConstraint=<bucket-region>",
		"aws s3api put-bucket-policy --bucket <bucket-name> --policy file://<config-bucket-policy.json>",
		"aws configservice put-configuration-recorder --region {region} --configuration-recorder name=default,roleARN=arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig --recording-group allSupported=true,includeGlobalResourceTypes=<true-in-one-region-only>",
		"aws configservice put-delivery-channel --region {region} --delivery-channel name=default,s3BucketName=<bucket-name>",
		"aws configservice start-configuration-recorder --region {region} --configuration-recorder-name default",
	],
	"terraform": `resource "aws_iam_service_linked_role" "config" {
  aws_service_name = "config.amazonaws.com"
}

resource "aws_config_configuration_recorder" "this" {
  name     = "default"
  role_arn = aws_iam_service_linked_role.config.arn
  recording_group {
    all_supported                 = true
    include_global_resource_types = true # in one region only
  }
}

resource "aws_config_delivery_channel" "this" {
  name           = "default"
  s3_bucket_name = "<bucket-name>" # its policy must let config.amazonaws.com write
  depends_on     = [aws_config_configuration_recorder.this]
}

resource "aws_config_configuration_recorder_status" "this" {
  name       = aws_config_configuration_recorder.this.name
  is_enabled = true
  depends_on = [aws_config_delivery_channel.this]
}
`,
}

# `supplementaryConfiguration.ConfigurationRecorders` is what the scanner read of the region's recorders; a list that
# could not be read is named in `Unread` and reported as a finding of its own.
recorders := input.supplementaryConfiguration.ConfigurationRecorders

violations contains "the region has no AWS Config recorder" if {
	is_array(recorders)
	count(recorders) == 0
}

violations contains msg if {
	some u in object.get(input, ["supplementaryConfiguration", "Unread"], [])
	startswith(u.action, "config:")
	msg := sprintf("the region's recorders could not be read (`%s`: %s), so Config.1 is unknown", [u.action, u.message])
}
