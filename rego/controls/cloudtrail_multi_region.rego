# A trail records management events in every region, global services included (FSBP CloudTrail.1, CIS 3.1). Human: more events cost more.
package custos.controls.cloudtrail_multi_region

metadata := {
	"id": "cloudtrail-multi-region",
	"title": "CloudTrail trail records every region and global services",
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
	"remediation": "cloudtrail-make-multi-region",
	"class": "human",
	"terraform": `resource "aws_cloudtrail" "this" {
  name                          = "{resource_name}"
  is_multi_region_trail         = true
  include_global_service_events = true
  # ... the rest of the trail's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

violations contains "the trail records one region only" if {
	object.get(input, ["configuration", "isMultiRegionTrail"], false) != true
}

violations contains "the trail leaves out global service events" if {
	object.get(input, ["configuration", "includeGlobalServiceEvents"], false) != true
}
