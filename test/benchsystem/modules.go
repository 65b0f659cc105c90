package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// moduleServer serves the benchmark's modules over HTTPS, as a WasmController's
// spec.module.url names them: /<guest>/<variant>.wasm is the guest as built
// for variant 0 and, for variant k > 0, the guest with a custom section of
// its own appended, a module with another digest and the same code. That is
// how N distinct modules are made: each is fetched, stored and compiled on
// its own, as N different controllers would be. The variants are made when
// asked for, so that 1,000 of them are never held at once.
type moduleServer struct {
	srv *httptest.Server
	// caFile holds the server's certificate, for the SSL_CERT_FILE of the
	// wasm-apiserver processes.
	caFile  string
	guests  map[string][]byte
	mu      sync.Mutex
	digests map[string]string
}

func startModuleServer(dir string, guests map[string][]byte) (*moduleServer, error) {
	m := &moduleServer{guests: guests, digests: map[string]string{}}
	m.srv = httptest.NewTLSServer(http.HandlerFunc(m.serve))
	m.caFile = filepath.Join(dir, "modules-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.srv.Certificate().Raw})
	if err := os.WriteFile(m.caFile, cert, 0o600); err != nil {
		m.srv.Close()
		return nil, err
	}
	return m, nil
}

func (m *moduleServer) close() { m.srv.Close() }

func (m *moduleServer) serve(w http.ResponseWriter, r *http.Request) {
	guest, file, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	variant, err := strconv.Atoi(strings.TrimSuffix(file, ".wasm"))
	if !ok || err != nil || variant < 0 || m.guests[guest] == nil {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(m.variant(guest, variant))
}

func (m *moduleServer) variant(guest string, k int) []byte {
	if k == 0 {
		return m.guests[guest]
	}
	return guesttest.WithCustomSection(m.guests[guest], "bench-variant-"+strconv.Itoa(k))
}

// module is the spec.module of variant k of guest.
func (m *moduleServer) module(guest string, k int) map[string]any {
	key := guest + "/" + strconv.Itoa(k)
	m.mu.Lock()
	digest, ok := m.digests[key]
	m.mu.Unlock()
	if !ok {
		sum := sha256.Sum256(m.variant(guest, k))
		digest = hex.EncodeToString(sum[:])
		m.mu.Lock()
		m.digests[key] = digest
		m.mu.Unlock()
	}
	return map[string]any{"url": fmt.Sprintf("%s/%s.wasm", m.srv.URL, key), "sha256": digest}
}
