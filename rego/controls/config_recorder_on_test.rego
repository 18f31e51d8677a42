package custos.controls.config_recorder_on_test

import data.custos.controls.config_recorder_on as ctl

test_recording_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::Config::ConfigurationRecorder", "configuration": {"Name": "default", "Recording": true}}
}

test_stopped_fails if {
	ctl.violations == {"the recorder is stopped"} with input as {"resourceType": "AWS::Config::ConfigurationRecorder", "configuration": {"Name": "default", "Recording": false}}
}
