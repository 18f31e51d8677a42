# A trail records every management event, reads and writes (CIS 3.1). Human: reads add volume and cost.
package custos.controls.cloudtrail_management_events

metadata := {
	"id": "cloudtrail-management-events",
	"title": "CloudTrail trail records all management events",
	"severity": "medium",
	"resource_types": ["AWS::CloudTrail::Trail"],
	"frameworks": {
		"aws-fsbp": ["CloudTrail.1"],
		"fedramp-moderate": ["AU-2", "AU-12"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": ["3.1"],
		"nist-800-53-r5": ["AU-2", "AU-12"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"remediation": "cloudtrail-select-management-events",
	"class": "human",
	"terraform": `resource "aws_cloudtrail" "this" {
  name = "{resource_name}"
  event_selector {
    read_write_type           = "All"
    include_management_events = true
    # data_resource blocks the trail needs stay here
  }
  # ... the rest of the trail's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

selectors := input.supplementaryConfiguration.EventSelectors

all_management if {
	some s in selectors.eventSelectors
	s.readWriteType == "All"
	s.includeManagementEvents == true
}

# Trails with advanced event selectors are left to a person; an item without selectors
# (from AWS Config) says nothing.
violations contains "the trail does not record every management event, reads and writes" if {
	selectors.advancedEventSelectors == 0
	not all_management
}
