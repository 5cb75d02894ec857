package kapitest

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

// pki is the key material of one server, as PEM and as files in its folder.
type pki struct {
	caPEM, serverCertPEM, serverKeyPEM, clientCertPEM, clientKeyPEM []byte
	// The kubelet's serving certificate and the kube-apiserver's client
	// certificate towards kubelets.
	kubeletCertPEM, kubeletKeyPEM, kubeletClientCertPEM, kubeletClientKeyPEM []byte
	// Files written by writeFiles.
	caFile, serverCertFile, serverKeyFile, clientCertFile, clientKeyFile, saKeyFile, saPubFile string
	kubeletCertFile, kubeletKeyFile, kubeletClientCertFile, kubeletClientKeyFile               string
	saKeyPEM, saPubPEM                                                                         []byte
}

// newPKI makes a CA, a serving certificate for ip (and 127.0.0.1 and the
// in-cluster names), an admin client certificate in system:masters, a
// kubelet serving certificate for 127.0.0.1 and the kube-apiserver's client
// certificate towards kubelets, and an RSA service-account key pair.
func newPKI(ip net.IP) (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kapitest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, caCert, err := sign(caTmpl, nil, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	ips := []net.IP{ip}
	if !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		ips = append(ips, net.IPv4(127, 0, 0, 1))
	}
	serverPEM, serverKeyPEM, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: ips,
	}, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("serving cert: %w", err)
	}
	clientPEM, clientKeyPEM, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("client cert: %w", err)
	}
	kubeletPEM, kubeletKeyPEM, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubelet"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("kubelet serving cert: %w", err)
	}
	kubeletClientPEM, kubeletClientKeyPEM, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"kubeadm:cluster-admins"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("kubelet client cert: %w", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	saKeyDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	return &pki{
		caPEM:                pemBlock("CERTIFICATE", caDER),
		serverCertPEM:        serverPEM,
		serverKeyPEM:         serverKeyPEM,
		clientCertPEM:        clientPEM,
		clientKeyPEM:         clientKeyPEM,
		kubeletCertPEM:       kubeletPEM,
		kubeletKeyPEM:        kubeletKeyPEM,
		kubeletClientCertPEM: kubeletClientPEM,
		kubeletClientKeyPEM:  kubeletClientKeyPEM,
		saKeyPEM:             pemBlock("PRIVATE KEY", saKeyDER),
		saPubPEM:             pemBlock("PUBLIC KEY", saPubDER),
	}, nil
}

// leaf issues a certificate from tmpl with a new P-256 key, signed by ca.
func leaf(tmpl *x509.Certificate, ca *x509.Certificate, caKey crypto.Signer) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, _, err := sign(tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

// sign gives tmpl a random serial and signs it by parent (itself when nil).
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return der, cert, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFiles writes the key material into dir/pki with mode 0600.
func (p *pki) writeFiles(dir string) error {
	d := filepath.Join(dir, "pki")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	files := []struct {
		dst  *string
		name string
		data []byte
	}{
		{&p.caFile, "ca.crt", p.caPEM},
		{&p.serverCertFile, "apiserver.crt", p.serverCertPEM},
		{&p.serverKeyFile, "apiserver.key", p.serverKeyPEM},
		{&p.clientCertFile, "admin.crt", p.clientCertPEM},
		{&p.clientKeyFile, "admin.key", p.clientKeyPEM},
		{&p.kubeletCertFile, "kubelet.crt", p.kubeletCertPEM},
		{&p.kubeletKeyFile, "kubelet.key", p.kubeletKeyPEM},
		{&p.kubeletClientCertFile, "apiserver-kubelet-client.crt", p.kubeletClientCertPEM},
		{&p.kubeletClientKeyFile, "apiserver-kubelet-client.key", p.kubeletClientKeyPEM},
		{&p.saKeyFile, "sa.key", p.saKeyPEM},
		{&p.saPubFile, "sa.pub", p.saPubPEM},
	}
	for _, f := range files {
		*f.dst = filepath.Join(d, f.name)
		if err := os.WriteFile(*f.dst, f.data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
