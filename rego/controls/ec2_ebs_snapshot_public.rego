# An EBS snapshot is not publicly restorable (FSBP EC2.1): a `{"group": "all"}` create-volume permission lets any AWS
# account create a volume from it, data included.
package custos.controls.ec2_ebs_snapshot_public

metadata := {
	"id": "ec2-ebs-snapshot-public",
	"title": "EBS snapshot is not publicly restorable",
	"severity": "critical",
	"resource_types": ["AWS::EC2::Snapshot"],
	"frameworks": {
		"aws-fsbp": ["EC2.1"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(3)", "SC-7(4)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "ec2-make-snapshot-private",
	"class": "auto",
	"terraform": `# Terraform cannot remove the create-volume permission of group all: run the fix's command.
# Then keep the region's snapshots from being shared publicly:
resource "aws_ebs_snapshot_block_public_access" "this" {
  state = "block-all-sharing"
}

# If it must be shared, share it with accounts by id:
resource "aws_snapshot_create_volume_permission" "this" {
  snapshot_id = "{resource_id}"
  account_id  = "<account-id>"
}
`,
}

permissions := p if {
	p := object.get(input, ["supplementaryConfiguration", "CreateVolumePermissions"], [])
	is_array(p)
} else := []

violations contains "the snapshot is public: any AWS account can create a volume from it (create-volume permission for group `all`)" if {
	some p in permissions
	is_object(p)
	g := object.get(p, "group", null)
	is_string(g)
	lower(g) == "all"
}
