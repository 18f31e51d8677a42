# An issued ACM certificate is more than `[controls] certificate_expiry_days` (30) from expiry at the capture time
# (FSBP ACM.1). Alert-only: an imported certificate needs a new one from its CA, a failing managed renewal needs its
# validation fixed, and RenewCertificate (private ones) is in no emulator custos is tested on.
package custos.controls.acm_certificate_expiry

metadata := {
	"id": "acm-certificate-expiry",
	"title": "ACM certificate is not about to expire",
	"severity": "high",
	"resource_types": ["AWS::ACM::Certificate"],
	"frameworks": {
		"aws-fsbp": ["ACM.1"],
		"fedramp-moderate": ["SC-17"],
		"cmmc-2.0-l2": ["SC.L2-3.13.15"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-17", "SC-28(3)", "SC-7(16)"],
		"nist-800-171-r2": ["3.13.15"],
	},
	"class": "alert",
	"guidance": "By the certificate's type. IMPORTED: get a renewed certificate from its CA and import it over the same ARN (`import-certificate --certificate-arn`), so the load balancers and distributions using it keep it. AMAZON_ISSUED: ACM renews it from 60 days before expiry unless validation fails: `describe-certificate` shows `RenewalSummary` and the DNS records ACM needs; put the CNAME records back (or answer the validation emails), and check that the certificate is in use (ACM renews only certificates in use). PRIVATE with `renewalEligibility` ELIGIBLE: `renew-certificate`. custos does not renew certificates itself: no emulator it is tested on implements RenewCertificate.",
	"cli": [
		"aws acm describe-certificate --region {region} --certificate-arn {resource_id}",
		"aws acm import-certificate --region {region} --certificate-arn {resource_id} --certificate fileb://<certificate.pem> --private-key fileb://<private-key.pem> --certificate-chain fileb://<chain.pem>",
		"aws acm renew-certificate --region {region} --certificate-arn {resource_id}",
	],
	"terraform": `# IMPORTED: the renewed certificate, imported over the same certificate.
resource "aws_acm_certificate" "imported" {
  private_key       = file("<private-key.pem>")
  certificate_body  = file("<certificate.pem>")
  certificate_chain = file("<chain.pem>")
}

# AMAZON_ISSUED: keep the DNS validation record in place so that managed renewal succeeds.
resource "aws_route53_record" "validation" {
  zone_id = "<hosted-zone-id>"
  name    = "<validation-record-name>"
  type    = "CNAME"
  records = ["<validation-record-value>"]
  ttl     = 300
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

warning_days := object.get(settings, "certificate_expiry_days", 30)

day_ns := 86400000000000

rfc3339 := `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|z|[+-][0-9]{2}:[0-9]{2})$`

# A timestamp in nanoseconds; undefined (never an error) for anything that is not RFC 3339.
ns(t) := time.parse_rfc3339_ns(t) if {
	is_string(t)
	regex.match(rfc3339, t)
}

# "Now" is the item's capture time, so that a decision replays; without it, nothing is reported.
now := ns(object.get(input, "configurationItemCaptureTime", null))

not_after := object.get(input, ["configuration", "notAfter"], null)

remaining := ns(not_after) - now

issued if object.get(input, ["configuration", "status"], "") == "ISSUED"

# Past its expiry, a certificate is reported while still ISSUED, and once ACM has moved
# it to EXPIRED while something still serves it (an unused expired one is clean-up).
reported_after_expiry if issued

reported_after_expiry if {
	object.get(input, ["configuration", "status"], "") == "EXPIRED"
	count(users) > 0
}

kinds := {"IMPORTED": "imported", "AMAZON_ISSUED": "Amazon-issued", "PRIVATE": "private"}

kind := object.get(kinds, object.get(input, ["configuration", "type"], ""), "ACM")

domain := d if {
	d := object.get(input, ["configuration", "domainName"], "")
	is_string(d)
	d != ""
} else := "(no domain name)"

users := [u | some u in object.get(input, ["configuration", "inUseBy"], []); is_string(u)] if is_array(object.get(input, ["configuration", "inUseBy"], []))

else := []

in_use_text := sprintf("; in use by %s", [concat(", ", sort(users))]) if count(users) > 0

else := "; not in use"

days_text(n) := "1 day" if n == 1

days_text(n) := sprintf("%d days", [n]) if n != 1

violations contains msg if {
	issued
	remaining >= 0
	remaining < warning_days * day_ns
	days := floor(remaining / day_ns)
	days > 0
	msg := sprintf("the %s certificate for %s expires in %s, on %s (the warning period is %d days)%s", [kind, domain, days_text(days), not_after, warning_days, in_use_text])
}

violations contains msg if {
	issued
	remaining >= 0
	remaining < day_ns
	msg := sprintf("the %s certificate for %s expires in less than a day, on %s%s", [kind, domain, not_after, in_use_text])
}

violations contains msg if {
	reported_after_expiry
	remaining < 0
	msg := sprintf("the %s certificate for %s expired %s ago, on %s%s", [kind, domain, days_text(ceil((0 - remaining) / day_ns)), not_after, in_use_text])
}
