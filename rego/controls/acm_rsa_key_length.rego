# An RSA certificate in ACM has a key of at least 2,048 bits (FSBP ACM.2). Alert-only: a longer key means a new
# certificate from its CA (ACM itself issues no shorter keys, so this is an imported one), which custos cannot obtain.
package custos.controls.acm_rsa_key_length

metadata := {
	"id": "acm-rsa-key-length",
	"title": "RSA certificate in ACM uses a key of at least 2,048 bits",
	"severity": "high",
	"resource_types": ["AWS::ACM::Certificate"],
	"frameworks": {
		"aws-fsbp": ["ACM.2"],
		"fedramp-moderate": ["SC-13"],
		"cmmc-2.0-l2": ["SC.L2-3.13.11"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-13"],
		"nist-800-171-r2": ["3.13.11"],
	},
	"class": "alert",
	"guidance": "Generate a new private key of 2,048 bits or more (or an ECDSA key) and a certificate signing request (`openssl req -new -newkey rsa:2048 -nodes -keyout <private-key.pem> -out <request.csr>`), have the CA issue the certificate, and import it over the same ARN so the services using it keep it. Or request an ACM certificate instead (ACM renews it) and move the listeners to it. The new certificate comes from a CA, so custos leaves it to a person.",
	"cli": [
		"aws acm import-certificate --region {region} --certificate-arn {resource_id} --certificate fileb://<certificate.pem> --private-key fileb://<private-key.pem> --certificate-chain fileb://<chain.pem>",
		"aws acm request-certificate --region {region} --domain-name <domain-name> --validation-method DNS --key-algorithm RSA_2048",
	],
	"terraform": `resource "aws_acm_certificate" "this" {
  domain_name       = "<domain-name>"
  validation_method = "DNS"
  key_algorithm     = "RSA_2048"
  lifecycle {
    create_before_destroy = true
  }
}
`,
}

algorithm := object.get(input, ["configuration", "keyAlgorithm"], "")

bits := to_number(substring(algorithm, 4, -1)) if {
	is_string(algorithm)
	regex.match(`^RSA_[0-9]{1,6}$`, algorithm)
}

domain := d if {
	d := object.get(input, ["configuration", "domainName"], "")
	is_string(d)
	d != ""
} else := "(no domain name)"

violations contains msg if {
	bits < 2048
	msg := sprintf("the certificate for %s has a %d-bit RSA key (`%s`), shorter than the required 2048 bits", [domain, bits, algorithm])
}
