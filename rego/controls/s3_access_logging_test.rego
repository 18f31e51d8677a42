package custos.controls.s3_access_logging_test

import data.custos.controls.s3_access_logging as ctl

bucket(name, logging) := {"resourceType": "AWS::S3::Bucket", "resourceId": name, "supplementaryConfiguration": logging}

test_logging_passes if {
	count(ctl.violations) == 0 with input as bucket("b", {"BucketLoggingConfiguration": {"destinationBucketName": "logs"}}) with data.custos.config.settings.log_bucket as "logs"
}

test_the_log_bucket_itself_passes if {
	count(ctl.violations) == 0 with input as bucket("logs", {}) with data.custos.config.settings.log_bucket as "logs"
}

test_not_selected_passes if {
	count(ctl.violations) == 0 with input as bucket("other", {}) with data.custos.config.settings as {"log_bucket": "logs", "access_logging_prefixes": ["prod-"]}
}

test_not_logging_fails if {
	ctl.violations == {"server access logging is off (want it to `logs`)"} with input as bucket("prod-data", {}) with data.custos.config.settings as {"log_bucket": "logs", "access_logging_prefixes": ["prod-"]}
}

# The shape AWS Config records for a bucket without logging (a null destination).
test_config_null_destination_fails if {
	ctl.violations == {"server access logging is off (want it to `logs`)"} with input as bucket("prod-data", {"BucketLoggingConfiguration": {"destinationBucketName": null, "logFilePrefix": null}}) with data.custos.config.settings as {"log_bucket": "logs", "access_logging_prefixes": ["prod-"]}
}
