# A trail that exists is logging (FSBP CloudTrail.1, CIS 3.1). Human: logging costs money.
package custos.controls.cloudtrail_logging

metadata := {
	"id": "cloudtrail-logging",
	"title": "CloudTrail trail is logging",
	"severity": "high",
	"resource_types": ["AWS::CloudTrail::Trail"],
	"frameworks": {
		"aws-fsbp": ["CloudTrail.1"],
		"fedramp-moderate": ["AU-2", "AU-12"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": ["3.1"],
		"nist-800-53-r5": ["AU-2", "AU-12"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"remediation": "cloudtrail-start-logging",
	"class": "human",
	"terraform": `resource "aws_cloudtrail" "this" {
  name           = "{resource_name}"
  enable_logging = true
  # ... the rest of the trail's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

# Only a status read live says "not logging"; an item without it (from AWS Config) says nothing.
violations contains "the trail is not logging" if {
	input.supplementaryConfiguration.TrailStatus.isLogging == false
}
