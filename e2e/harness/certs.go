package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a throwaway certificate authority for one test cluster. It signs the
// kube-apiserver's serving certificate and any certificate a test needs later
// (e.g. hyperplace's webhook), so that one CA file verifies them all.
type CA struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertPEM  []byte
	CertPath string
	Pool     *x509.CertPool
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

// NewCA makes another CA, writing ca.crt and ca.key into dir: for example the CA whose client
// certificates hyperplace's extender accepts, or a stranger's.
func NewCA(dir, commonName string) (*CA, error) {
	return newCA(dir, commonName)
}

func newCA(dir, commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der), Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.CertPath = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca.CertPath, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue writes <dir>/<name>.crt and <name>.key: an ECDSA P-256 serving (and
// client) certificate signed by the CA with the given SANs.
func (ca *CA) Issue(dir, name string, dnsNames []string, ips []net.IP) (certPath, keyPath string, err error) {
	cn := name
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	return ca.issue(dir, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	})
}

// IssueClient writes <dir>/<name>.crt and <name>.key: an ECDSA P-256 client certificate
// (extendedKeyUsage clientAuth only, CN=name, no SANs) signed by the CA, as certs/make-certs.sh
// --client makes one.
func (ca *CA) IssueClient(dir, name string) (certPath, keyPath string, err error) {
	return ca.issue(dir, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// issue signs tmpl (given a fresh key, serial and a validity of an hour ago to a week ahead).
func (ca *CA) issue(dir, name string, tmpl *x509.Certificate) (certPath, keyPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := newSerial()
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(7 * 24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// writeRSAKey writes a PKCS#1 RSA private key (the service-account signing
// key; the apiserver reads its public half from the same file).
func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), 0o600)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return fmt.Sprintf("%x", b)
}
