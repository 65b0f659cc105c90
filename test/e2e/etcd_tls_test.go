//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// tlsEtcd is an etcd of its own that serves clients over TLS with client
// certificates, as an administrator's etcd for the replicas would, on an
// address the node's pods reach.
type tlsEtcd struct {
	// URL is the client URL.
	URL string
	// CA, ClientCert and ClientKey are PEM files: the CA that signed the
	// server's certificate and a client certificate etcd accepts.
	CA, ClientCert, ClientKey string
}

// startTLSEtcd starts etcd (ETCD_BIN, which hack/cluster-up.sh names)
// serving clients on ip, with certificates generated into work; it stops
// when the test ends.
func startTLSEtcd(t *testing.T, work string, ip net.IP) *tlsEtcd {
	t.Helper()
	bin := os.Getenv("ETCD_BIN")
	if bin == "" {
		t.Fatal("ETCD_BIN is not set: run with `make test-e2e`")
	}
	dir := filepath.Join(work, "etcd-tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, caKey := newCert(t, nil, nil, "e2e-etcd-ca", nil)
	server, serverKey := newCert(t, ca, caKey, "e2e-etcd", []net.IP{ip, net.IPv4(127, 0, 0, 1)})
	client, clientKey := newCert(t, ca, caKey, "wasm-apiserver", nil)
	e := &tlsEtcd{CA: filepath.Join(dir, "ca.crt"), ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key")}
	files := map[string][]byte{
		e.CA: certPEM(ca), e.ClientCert: certPEM(client), e.ClientKey: keyPEM(t, clientKey),
		filepath.Join(dir, "server.crt"): certPEM(server), filepath.Join(dir, "server.key"): keyPEM(t, serverKey),
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.URL = "https://" + net.JoinHostPort(ip.String(), strconv.Itoa(freePort(t)))
	peer := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	logFile, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--name=ha", "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+e.URL, "--advertise-client-urls="+e.URL,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=ha="+peer,
		"--cert-file="+filepath.Join(dir, "server.crt"), "--key-file="+filepath.Join(dir, "server.key"),
		"--trusted-ca-file="+e.CA, "--client-cert-auth")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	e.waitHealthy(t, logFile.Name())
	return e
}

// waitHealthy waits until etcd answers /health to a client with the
// client certificate, and to no client without it.
func (e *tlsEtcd) waitHealthy(t *testing.T, logPath string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(t, e.CA))
	pair, err := tls.LoadX509KeyPair(e.ClientCert, e.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	get := func(certs []tls.Certificate) (int, error) {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12}}}
		resp, err := c.Get(e.URL + "/health")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	eventually(t, time.Minute, "etcd with TLS healthy", func() (bool, string) {
		code, err := get([]tls.Certificate{pair})
		if code == http.StatusOK {
			return true, ""
		}
		b, _ := os.ReadFile(logPath)
		return false, fmt.Sprintf("%d %v; etcd's log ends:\n%s", code, err, b[max(0, len(b)-2000):])
	})
	if code, err := get(nil); err == nil {
		t.Fatalf("etcd answered %d to a client without a certificate", code)
	}
}

// newCert makes an ECDSA key and a certificate for it, signed by parent
// (a CA for itself when parent is nil); ips make it a serving certificate.
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, ips []net.IP) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(ips) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	signer, signerKey := parent, parentKey
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageCertSign|x509.KeyUsageCRLSign, nil
		signer, signerKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
