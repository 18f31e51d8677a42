package custos.controls.acm_certificate_expiry_test

import data.custos.controls.acm_certificate_expiry as ctl

cert(cfg) := {"resourceType": "AWS::ACM::Certificate", "resourceId": "arn:aws:acm:us-east-1:123456789012:certificate/abc", "resourceName": "shop.example.com", "configurationItemCaptureTime": "2024-06-01T00:00:00.000Z", "configuration": object.union({"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc", "domainName": "shop.example.com", "type": "IMPORTED", "status": "ISSUED", "inUseBy": [], "renewalEligibility": "INELIGIBLE", "keyAlgorithm": "RSA_2048"}, cfg)}

lb := "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1"

cdn := "arn:aws:cloudfront::123456789012:distribution/E1"

test_far_expiry_passes if {
	count(ctl.violations) == 0 with input as cert({"notAfter": "2024-09-01T00:00:00Z"}) with data.custos.config.settings as {}
}

test_exactly_thirty_days_passes if {
	count(ctl.violations) == 0 with input as cert({"notAfter": "2024-07-01T00:00:00Z"}) with data.custos.config.settings as {}
}

test_imported_certificate_near_expiry_fails if {
	ctl.violations == {"the imported certificate for shop.example.com expires in 12 days, on 2024-06-13T00:00:00Z (the warning period is 30 days); in use by arn:aws:cloudfront::123456789012:distribution/E1, arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1"} with input as cert({"notAfter": "2024-06-13T00:00:00Z", "inUseBy": [lb, cdn]}) with data.custos.config.settings as {}
}

test_amazon_issued_certificate_near_expiry_fails if {
	ctl.violations == {"the Amazon-issued certificate for shop.example.com expires in 1 day, on 2024-06-02T12:00:00Z (the warning period is 30 days); not in use"} with input as cert({"type": "AMAZON_ISSUED", "notAfter": "2024-06-02T12:00:00Z"}) with data.custos.config.settings as {}
}

test_less_than_a_day_fails if {
	ctl.violations == {"the private certificate for shop.example.com expires in less than a day, on 2024-06-01T06:00:00Z; in use by arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1"} with input as cert({"type": "PRIVATE", "notAfter": "2024-06-01T06:00:00Z", "inUseBy": [lb]}) with data.custos.config.settings as {}
}

test_expired_but_still_issued_fails if {
	ctl.violations == {"the imported certificate for shop.example.com expired 3 days ago, on 2024-05-29T12:00:00Z; not in use"} with input as cert({"notAfter": "2024-05-29T12:00:00Z"}) with data.custos.config.settings as {}
}

test_configured_warning_period_fails if {
	ctl.violations == {"the imported certificate for shop.example.com expires in 45 days, on 2024-07-16T00:00:00Z (the warning period is 60 days); not in use"} with input as cert({"notAfter": "2024-07-16T00:00:00Z"})
		with data.custos.config.settings.certificate_expiry_days as 60
}

test_configured_warning_period_met_passes if {
	count(ctl.violations) == 0 with input as cert({"notAfter": "2024-06-13T00:00:00Z"})
		with data.custos.config.settings as {"certificate_expiry_days": 7}
}

test_expired_status_not_in_use_passes if {
	count(ctl.violations) == 0 with input as cert({"status": "EXPIRED", "notAfter": "2024-05-01T00:00:00Z"})
}

test_expired_status_still_in_use_fails if {
	ctl.violations == {"the imported certificate for shop.example.com expired 31 days ago, on 2024-05-01T00:00:00Z; in use by arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1"} with input as cert({"status": "EXPIRED", "notAfter": "2024-05-01T00:00:00Z", "inUseBy": [lb]}) with data.custos.config.settings as {}
}

test_pending_validation_passes if {
	count(ctl.violations) == 0 with input as cert({"status": "PENDING_VALIDATION", "notAfter": "2024-06-02T00:00:00Z"})
}

test_without_capture_time_says_nothing_passes if {
	count(ctl.violations) == 0 with input as object.remove(cert({"notAfter": "2024-06-02T00:00:00Z"}), ["configurationItemCaptureTime"])
}

test_without_expiry_says_nothing_passes if {
	count(ctl.violations) == 0 with input as cert({})
}

test_unparseable_expiry_says_nothing_passes if {
	count(ctl.violations) == 0 with input as cert({"notAfter": "soon"})
}

test_null_in_use_list_fails if {
	ctl.violations == {"the imported certificate for shop.example.com expires in 12 days, on 2024-06-13T00:00:00Z (the warning period is 30 days); not in use"} with input as cert({"notAfter": "2024-06-13T00:00:00Z", "inUseBy": null}) with data.custos.config.settings as {}
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
