package proxyproto

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"strconv"
)

// VerifyFailed is the Verify value [SSLInfoFromTLS] reports when the client
// presented no certificate or it was not verified: OpenSSL's
// X509_V_ERR_UNSPECIFIED. §2.2.6 asks only for "non-zero".
const VerifyFailed uint32 = 1

// SSLInfoFromTLS describes a TLS connection this proxy terminated, with the
// names HAProxy sends (it reads them from OpenSSL):
//
//   - Client: ClientSSL always; ClientCertSess when the client has a
//     certificate in this session; ClientCertConn when it also sent it in
//     this handshake, that is, the session was not resumed.
//   - Verify: 0 when the client's certificate was verified (the state has
//     verified chains), [VerifyFailed] otherwise, as §2.2.6 asks. HAProxy
//     sends 0 when no certificate was presented (OpenSSL's X509_V_OK);
//     receivers that matter here (Mosquitto, EMQX) look at Verify only
//     together with the certificate flags.
//   - Version: "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3".
//   - Cipher: the OpenSSL name, e.g. "ECDHE-RSA-AES128-GCM-SHA256"; TLS 1.3
//     suites keep their IANA names, as in OpenSSL ("TLS_AES_128_GCM_SHA256").
//   - CN: the first Common Name in the subject of the client's leaf
//     certificate, as HAProxy takes it.
//
// SigAlg and KeyAlg describe the certificate this proxy presented, which a
// ConnectionState does not hold: fill them with [CertAlgorithms]. A nil
// state returns the zero SSLInfo.
func SSLInfoFromTLS(cs *tls.ConnectionState) SSLInfo {
	if cs == nil {
		return SSLInfo{}
	}
	info := SSLInfo{
		Client:  ClientSSL,
		Verify:  VerifyFailed,
		Version: tlsVersionName(cs.Version),
		Cipher:  cipherName(cs.CipherSuite),
	}
	if len(cs.PeerCertificates) > 0 {
		info.Client |= ClientCertSess
		if !cs.DidResume {
			info.Client |= ClientCertConn
		}
		info.CN = firstCommonName(cs.PeerCertificates[0])
		if len(cs.VerifiedChains) > 0 {
			info.Verify = 0
		}
	}
	return info
}

// CertAlgorithms returns the names HAProxy sends for a certificate in the
// SIG_ALG and KEY_ALG sub-TLVs (§2.2.6): the OpenSSL short name of its
// signature algorithm ("RSA-SHA256", "ecdsa-with-SHA256", "RSASSA-PSS",
// "ED25519") and its key type and size ("RSA2048", "EC256"). HAProxy names
// only RSA, EC and DSA keys; keyAlg is empty for Ed25519 (HAProxy sends no
// KEY_ALG then) and for DSA, which Go no longer supports. A nil certificate
// gives two empty strings.
func CertAlgorithms(cert *x509.Certificate) (sigAlg, keyAlg string) {
	if cert == nil {
		return "", ""
	}
	sigAlg = signatureNames[cert.SignatureAlgorithm]
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		keyAlg = "RSA" + strconv.Itoa(k.N.BitLen())
	case *ecdsa.PublicKey:
		keyAlg = "EC" + strconv.Itoa(k.Curve.Params().BitSize)
	}
	return sigAlg, keyAlg
}

// oidCommonName is the attribute type 2.5.4.3 §2.2.6 names for the CN.
var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// firstCommonName returns the first CN of the subject. pkix.Name.CommonName
// holds the last one; HAProxy sends the first.
func firstCommonName(cert *x509.Certificate) string {
	for _, atv := range cert.Subject.Names {
		if atv.Type.Equal(oidCommonName) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return tls.VersionName(v)
}

// cipherName returns OpenSSL's name for a suite, which is what HAProxy
// sends. The table avoids tls.CipherSuiteName, which allocates on every
// call; it is the fallback for suites the table does not know.
func cipherName(id uint16) string {
	if name, ok := openSSLCipherNames[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id)
}

var openSSLCipherNames = map[uint16]string{
	// OpenSSL keeps the IANA names for TLS 1.3.
	tls.TLS_AES_128_GCM_SHA256:       "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:       "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",

	tls.TLS_RSA_WITH_RC4_128_SHA:                      "RC4-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              "ECDHE-ECDSA-RC4-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                "ECDHE-RSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
}

// signatureNames are OpenSSL's short names (OBJ_nid2sn) of the signature
// algorithm OIDs, which HAProxy sends for cert-sig. All three RSA-PSS
// variants share one OID, hence one name.
var signatureNames = map[x509.SignatureAlgorithm]string{
	x509.MD2WithRSA:       "RSA-MD2",
	x509.MD5WithRSA:       "RSA-MD5",
	x509.SHA1WithRSA:      "RSA-SHA1",
	x509.SHA256WithRSA:    "RSA-SHA256",
	x509.SHA384WithRSA:    "RSA-SHA384",
	x509.SHA512WithRSA:    "RSA-SHA512",
	x509.DSAWithSHA1:      "DSA-SHA1",
	x509.DSAWithSHA256:    "dsa_with_SHA256",
	x509.ECDSAWithSHA1:    "ecdsa-with-SHA1",
	x509.ECDSAWithSHA256:  "ecdsa-with-SHA256",
	x509.ECDSAWithSHA384:  "ecdsa-with-SHA384",
	x509.ECDSAWithSHA512:  "ecdsa-with-SHA512",
	x509.SHA256WithRSAPSS: "RSASSA-PSS",
	x509.SHA384WithRSAPSS: "RSASSA-PSS",
	x509.SHA512WithRSAPSS: "RSASSA-PSS",
	x509.PureEd25519:      "ED25519",
}
