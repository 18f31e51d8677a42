package custos.controls.acm_rsa_key_length_test

import data.custos.controls.acm_rsa_key_length as ctl

cert(alg) := {"resourceType": "AWS::ACM::Certificate", "resourceId": "arn:aws:acm:us-east-1:123456789012:certificate/abc", "configuration": {"domainName": "shop.example.com", "type": "IMPORTED", "status": "ISSUED", "keyAlgorithm": alg}}

test_rsa_2048_passes if {
	count(ctl.violations) == 0 with input as cert("RSA_2048")
}

test_rsa_4096_passes if {
	count(ctl.violations) == 0 with input as cert("RSA_4096")
}

test_ec_key_passes if {
	count(ctl.violations) == 0 with input as cert("EC_prime256v1")
}

test_rsa_1024_fails if {
	ctl.violations == {"the certificate for shop.example.com has a 1024-bit RSA key (`RSA_1024`), shorter than the required 2048 bits"} with input as cert("RSA_1024")
}

test_odd_algorithm_names_pass if {
	count(ctl.violations) == 0 with input as cert("RSA_")
}

test_absent_algorithm_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::ACM::Certificate", "configuration": {}}
}

test_non_string_algorithm_passes if {
	count(ctl.violations) == 0 with input as cert(1024)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
