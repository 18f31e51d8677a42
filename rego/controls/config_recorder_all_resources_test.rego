package custos.controls.config_recorder_all_resources_test

import data.custos.controls.config_recorder_all_resources as ctl

rec(all) := {"resourceType": "AWS::Config::ConfigurationRecorder", "configuration": {"Name": "default", "RecordingGroup": {"AllSupported": all}}}

test_all_supported_passes if {
	count(ctl.violations) == 0 with input as rec(true)
}

test_selected_types_fails if {
	ctl.violations == {"the recorder does not record all supported resource types"} with input as rec(false)
}
