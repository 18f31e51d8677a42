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
	"guidance": "Create a bucket whose policy lets `config.amazonaws.com` write to it and `aws iam create-service-linked-role --aws-service-name config.amazonaws.com`, then `aws configservice put-configuration-recorder --configuration-recorder name=default,roleARN=arn:aws:iam::<account>:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig --recording-group allSupported=true,includeGlobalResourceTypes=<true in one region only>`, `aws configservice put-delivery-channel --delivery-channel name=default,s3BucketName=<bucket>` and `aws configservice start-configuration-recorder --configuration-recorder-name default` (Terraform: `aws_config_configuration_recorder`, `aws_config_delivery_channel`, `aws_config_configuration_recorder_status`). It needs an IAM role, so custos leaves it to a person.",
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
