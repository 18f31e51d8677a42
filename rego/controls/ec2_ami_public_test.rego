package custos.controls.ec2_ami_public_test

import data.custos.controls.ec2_ami_public as ctl

image(cfg) := {"resourceType": "AWS::EC2::Image", "resourceId": "ami-0123", "configuration": object.union({"imageId": "ami-0123", "name": "base-2024", "state": "available"}, cfg)}

test_private_image_passes if {
	count(ctl.violations) == 0 with input as image({"public": false})
}

test_public_image_fails if {
	ctl.violations == {"the image is public: any AWS account can launch it"} with input as image({"public": true})
}

test_absent_flag_passes if {
	count(ctl.violations) == 0 with input as image({})
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
