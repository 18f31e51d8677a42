# IAM user who can sign in to the console with a password has an MFA device (FSBP IAM.5, CIS 1.10). Users whose
# credentials were not read report nothing. Alert-only: the MFA device belongs to the person; only they can register it
# (two codes from the device), and removing the password instead locks them out of the console.
package custos.controls.iam_user_console_mfa

metadata := {
	"id": "iam-user-console-mfa",
	"title": "IAM user with a console password has MFA enabled",
	"severity": "medium",
	"resource_types": ["AWS::IAM::User"],
	"frameworks": {
		"aws-fsbp": ["IAM.5"],
		"fedramp-moderate": ["AC-2(1)", "IA-2(1)", "IA-2(2)", "IA-2(6)", "IA-2(8)"],
		"cmmc-2.0-l2": ["IA.L2-3.5.3"],
		"cis-aws-foundations-v3.0": ["1.10"],
		"nist-800-53-r5": ["AC-2(1)", "AC-3(15)", "IA-2(1)", "IA-2(2)", "IA-2(6)", "IA-2(8)"],
		"nist-800-171-r2": ["3.5.3"],
	},
	"class": "alert",
	"guidance": "The user registers an MFA device: a virtual one (below), a FIDO security key, or a hardware TOTP token in the console (Security credentials, Assign MFA device); enabling it needs two consecutive codes from the device, which only its holder has. If the user needs no console access, delete the password instead (`aws iam delete-login-profile --user-name {resource_name}`). Either way the person decides, so custos does not act.",
	"cli": [
		"aws iam create-virtual-mfa-device --virtual-mfa-device-name {resource_name} --outfile <qr-code.png> --bootstrap-method QRCodePNG",
		"aws iam enable-mfa-device --user-name {resource_name} --serial-number arn:aws:iam::{account}:mfa/{resource_name} --authentication-code1 <first-code> --authentication-code2 <second-code>",
	],
	"terraform": `resource "aws_iam_virtual_mfa_device" "this" {
  virtual_mfa_device_name = "{resource_name}"
}
# Terraform cannot enable the device (it takes two codes from it): run aws iam enable-mfa-device.
# A user who needs no console access: remove its aws_iam_user_login_profile instead.
`,
}

credentials := object.get(input, ["supplementaryConfiguration", "Credentials"], null)

last_used := object.get(credentials, "passwordLastUsed", null) if is_object(credentials)

used_text := sprintf("last used %s", [last_used]) if is_string(last_used)

else := "never used"

violations contains msg if {
	is_object(credentials)
	object.get(credentials, "passwordEnabled", false) == true
	object.get(credentials, "mfaActive", false) != true
	msg := sprintf("the user has a console password (%s) and no MFA device", [used_text])
}
