//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskFaults runs wasm-apiserver with its state dir on a small tmpfs
// and checks that failures of its own disk are the server's, never the
// module's, and mend by themselves: a full disk fails the loads of a
// module compiled into the compilation cache and of one kept in the module
// store with StorageFailed, retried until space returns; a read-only disk
// costs a snapshotting guest its snapshots (Snapshotted False, the stale
// snapshot never restored) but not its reconciles, until the disk is
// writable again. Objects live in the cluster's etcd, off the failing disk.
func TestDiskFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	c := clusterFromEnv(t)
	etcdURL := os.Getenv("ETCD_URL")
	if etcdURL == "" {
		t.Fatal("ETCD_URL is not set: run with `make test-e2e`")
	}
	root, work := repoRoot(t), t.TempDir()
	state := filepath.Join(work, "state")
	mountTmpfs(t, state, "192m")

	applyArtifacts(t, c.Kubeconfig, root, work)
	saConfig := filepath.Join(work, "wasm-apiserver.kubeconfig")
	saKubeconfig(t, c, "wasm-system", "wasm-apiserver", saConfig)
	publishModule(t, c, root, "echo")
	publishModule(t, c, root, "counter")
	grantWatch(t, c.Kubeconfig, "default", "default", "configmaps")

	// The URL module is the compute guest, served over TLS from loopback.
	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), "compute"); err != nil {
		t.Fatalf("building compute: %v\n%s", err, out)
	}
	module := mustRead(t, filepath.Join(root, "_output", "guests", "compute.wasm"))
	files := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(module) }))
	t.Cleanup(files.Close)
	ca := filepath.Join(work, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: files.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	srv := &serverProcess{bin: buildServer(t, root, work), stateDir: state, logDir: work, port: port,
		args: []string{"--standalone", "--kubeconfig=" + saConfig,
			"--etcd-servers=" + etcdURL, "--etcd-prefix=/e2e-disk-" + strconv.Itoa(port)},
		env: []string{"SSL_CERT_FILE=" + ca}, flags: []string{"--allow-local-module-sources"}}
	srv.start(t)
	wasmctl := filepath.Join(state, "kubeconfig")
	waitReady(t, wasmctl, srv)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wasm-apiserver log:\n%s", srv.logTail())
		}
	})

	t.Run("full", func(t *testing.T) { testDiskFull(t, c, wasmctl, state, files.URL, module) })
	t.Run("read-only", func(t *testing.T) { testDiskReadOnly(t, c, wasmctl, state, srv) })
}

// mountTmpfs mounts a tmpfs of size at dir until the test ends.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "", "mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := runAfter(30*time.Second, "umount", dir); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// fill writes a file at path until the disk is full, and returns a func
// that removes it.
func fill(t *testing.T, path string) (free func()) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for err == nil {
		_, err = f.Write(chunk)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", err)
	}
	_ = f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// wcStatus returns fields of a WasmController's status, by jsonpath.
func wcStatus(t *testing.T, wasmctl, name, jsonpath string) string {
	out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name, "-o", "jsonpath="+jsonpath)
	return out
}

func testDiskFull(t *testing.T, c *cluster, wasmctl, state, url string, module []byte) {
	free := fill(t, filepath.Join(state, "filler"))
	watch := `
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=disk-trigger
`
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: disk-cache, namespace: default}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  suspend: {policy: Immediate}`+watch, "apply", "-f", "-")
	mustKubectl(t, wasmctl, fmt.Sprintf(`apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: disk-store, namespace: default}
spec:
  module:
    url: %s/compute.wasm
    sha256: "%s"
  suspend: {policy: Immediate}`, url, hexSum(module))+watch, "apply", "-f", "-")
	names := []string{"disk-cache", "disk-store"}
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", names[0], names[1], "--ignore-not-found")
		_, _ = kubectl(t, c.Kubeconfig, "", "-n", "default", "delete", "configmap", "disk-trigger", "--ignore-not-found")
	})

	const loadedCond = `{.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason} ` +
		`{.status.conditions[?(@.type=="Ready")].reason}|{.status.lastError}`
	for _, name := range names {
		eventually(t, time.Minute, name+": the full disk is the server's StorageFailed", func() (bool, string) {
			out := wcStatus(t, wasmctl, name, loadedCond)
			if strings.Contains(out, "InvalidModule") || strings.Contains(out, state) {
				t.Fatalf("%s: a full disk reported as a bad module, or naming the server's files: %s", name, out)
			}
			return strings.HasPrefix(out, "Failed StorageFailed StorageFailed|"), out
		})
	}
	eventually(t, 30*time.Second, "Warning Events with reason StorageFailed", func() (bool, string) {
		out, _ := kubectl(t, c.Kubeconfig, "", "-n", "default", "get", "events", "--field-selector",
			"reason=StorageFailed", "-o", "jsonpath={.items[*].involvedObject.name}")
		return strings.Contains(out, "disk-cache") && strings.Contains(out, "disk-store"), out
	})

	// Space returns: the retries load both, with no change of the spec
	// and no restart, and they reconcile.
	free()
	for _, name := range names {
		waitPhase(t, wasmctl, name, loaded, "1")
		eventually(t, 30*time.Second, name+" Ready", func() (bool, string) {
			out := wcStatus(t, wasmctl, name, `{.status.conditions[?(@.type=="Ready")].status}`)
			return out == "True", out
		})
	}
	mustKubectl(t, c.Kubeconfig, "", "-n", "default", "create", "configmap", "disk-trigger", "--from-literal=x=1")
	for _, name := range names {
		eventually(t, time.Minute, name+" reconciles", func() (bool, string) {
			out := wcStatus(t, wasmctl, name, "{.status.wakes}")
			n, _ := strconv.Atoi(out)
			return n >= 1, out
		})
	}
}

func testDiskReadOnly(t *testing.T, c *cluster, wasmctl, state string, srv *serverProcess) {
	const name = "disk-snapshot"
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: `+name+`, namespace: default}
spec:
  module:
    configMapRef: {name: counter-module, key: module.wasm.gz}
  suspend: {policy: Immediate, snapshot: true}
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=disk-tick
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name, "--ignore-not-found")
		_, _ = kubectl(t, c.Kubeconfig, "", "-n", "default", "delete", "configmap", "disk-tick", "--ignore-not-found")
	})
	waitPhase(t, wasmctl, name, loaded, "1")
	// The counter guest logs "counted N" at each reconcile: the last such
	// line of this controller is its count, which tells a guest resumed
	// from its snapshot from one started afresh.
	lastCount := func() string {
		b, _ := os.ReadFile(srv.logPath())
		count := ""
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, `"counted `); i >= 0 && strings.Contains(line, name) {
				count, _, _ = strings.Cut(line[i+len(`"counted `):], `"`)
			}
		}
		return count
	}
	tick := 0
	wake := func(want, snapshotted string) {
		t.Helper()
		tick++
		if tick == 1 {
			mustKubectl(t, c.Kubeconfig, "", "-n", "default", "create", "configmap", "disk-tick", "--from-literal=n=1")
		} else {
			mustKubectl(t, c.Kubeconfig, "", "-n", "default", "patch", "configmap", "disk-tick", "--type=merge",
				"-p", fmt.Sprintf(`{"data":{"n":"%d"}}`, tick))
		}
		eventually(t, time.Minute, fmt.Sprintf("wake %d counts %s, Snapshotted %s", tick, want, snapshotted), func() (bool, string) {
			out := wcStatus(t, wasmctl, name, `{.status.wakes} {.status.conditions[?(@.type=="Snapshotted")].status} `+
				`{.status.conditions[?(@.type=="Snapshotted")].reason}|{.status.conditions[?(@.type=="Snapshotted")].message}`)
			if strings.Contains(out, state) {
				t.Fatalf("the Snapshotted condition names the server's files: %s", out)
			}
			f := strings.Fields(out)
			got := lastCount()
			return got == want && len(f) >= 2 && f[0] == strconv.Itoa(tick) && f[1] == snapshotted, "count " + got + ", status " + out
		})
	}
	remount := func(mode string) {
		t.Helper()
		if out, err := run(t, "", "mount", "-o", "remount,"+mode, state); err != nil {
			t.Fatalf("remount %s: %v\n%s", mode, err, out)
		}
	}
	wake("1", "True")
	wake("2", "True") // resumed from its snapshot

	remount("ro")
	t.Cleanup(func() { _, _ = runAfter(30*time.Second, "mount", "-o", "remount,rw", state) })
	// Resumed from the snapshot of count 2, whose new snapshot cannot be
	// written: the snapshot of count 2 is stale and never restored again.
	wake("3", "False")
	if out := wcStatus(t, wasmctl, name, `{.status.conditions[?(@.type=="Snapshotted")].reason}`); out != "SnapshotFailed" {
		t.Errorf("Snapshotted reason %q, want SnapshotFailed", out)
	}
	wake("1", "False") // started afresh: it keeps reconciling

	remount("rw")
	wake("1", "True") // the stale snapshot stays unrestored; a new one is written
	wake("2", "True") // and resumed from
}

func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
