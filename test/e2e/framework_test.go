//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"encoding/base64"

	"k8s.io/apimachinery/pkg/util/wait"
)

// cluster is the kube-apiserver and etcd that hack/cluster-up.sh started;
// its env file names everything a test needs.
type cluster struct {
	Dir        string
	Kubeconfig string
	URL        string
	CACert     string
}

func clusterFromEnv(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{Dir: os.Getenv("CLUSTER_DIR"), Kubeconfig: os.Getenv("KUBECONFIG"),
		URL: os.Getenv("KUBE_APISERVER_URL"), CACert: os.Getenv("CLUSTER_CA_CERT")}
	if c.Dir == "" || c.Kubeconfig == "" || c.URL == "" || c.CACert == "" {
		t.Fatal("the e2e suite needs a running cluster: run it with `make test-e2e`, or source $CLUSTER_DIR/env after hack/cluster-up.sh")
	}
	return c
}

// repoRoot is where the Makefile is.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs a command with a bounded time and returns its combined output.
func run(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl runs the real kubectl with the given kubeconfig.
func kubectl(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	return run(t, stdin, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

func mustKubectl(t *testing.T, kubeconfig, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, kubeconfig, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, detail := cond()
		last = detail
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serverProcess is wasm-apiserver run on the host as it would run in a pod:
// its own serving certificate, delegated authentication and authorization
// against the cluster, the cluster reached as its ServiceAccount.
type serverProcess struct {
	bin, stateDir, certDir, kubeconfig string
	port                               int
	// logDir holds wasm-apiserver.log; stateDir when empty.
	logDir string
	// args replace the in-cluster flags (certificates, kubeconfigs) when set.
	args []string
	// env is added to the server's environment.
	env []string
	// flags are added to the server's flags, whatever args say.
	flags []string
	cmd   *exec.Cmd
	log   *os.File
	// stopsWith is set once a test's cleanup stops the server: a restart
	// from a subtest must not tie the server's life to the subtest.
	stopsWith bool
}

func (p *serverProcess) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.log = log
	args := []string{"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(p.port), "--state-dir=" + p.stateDir}
	if p.args != nil {
		args = append(args, p.args...)
	} else {
		args = append(args,
			"--tls-cert-file="+filepath.Join(p.certDir, "tls.crt"),
			"--tls-private-key-file="+filepath.Join(p.certDir, "tls.key"),
			"--kubeconfig="+p.kubeconfig,
			"--authentication-kubeconfig="+p.kubeconfig,
			"--authorization-kubeconfig="+p.kubeconfig,
		)
	}
	args = append(args, p.flags...)
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.Env = append(os.Environ(), p.env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !p.stopsWith {
		p.stopsWith = true
		t.Cleanup(func() { p.stop(t) })
	}
}

func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		t.Errorf("wasm-apiserver did not stop within 90s of SIGTERM")
	}
	p.cmd = nil
	p.log.Close()
}

// logPath is the file the server's output goes to.
func (p *serverProcess) logPath() string {
	dir := p.logDir
	if dir == "" {
		dir = p.stateDir
	}
	return filepath.Join(dir, "wasm-apiserver.log")
}

func (p *serverProcess) logTail() string {
	b, _ := os.ReadFile(p.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kill ends the server with SIGKILL, as a crash or the OOM killer would: no
// shutdown runs and nothing is flushed. start runs it again on the same
// state directory.
func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("killing wasm-apiserver: %v", err)
	}
	_ = p.cmd.Wait()
	p.cmd = nil
	p.log.Close()
}

// saKubeconfig writes a kubeconfig for a ServiceAccount from a token the
// cluster issues for it, as a pod would mount.
func saKubeconfig(t *testing.T, c *cluster, namespace, name, path string) {
	t.Helper()
	token := strings.TrimSpace(mustKubectl(t, c.Kubeconfig, "", "create", "token", name, "-n", namespace, "--duration=2h"))
	ca, err := os.ReadFile(c.CACert)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: %s}
current-context: e2e
`, c.URL, b64(ca), name, token, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// applyArtifacts installs artifacts/ as an administrator would, with a
// serving certificate generated into work, and returns the certificate's
// directory. It is left installed but for the APIService, removed when the
// test ends, after the server has stopped (cleanups run last first): with
// no server behind it, it would keep every namespace deleted later
// Terminating, since kube-controller-manager's namespace controller needs
// complete discovery. The next test applies it again.
func applyArtifacts(t *testing.T, kubeconfig, root, work string) string {
	t.Helper()
	t.Cleanup(func() { unregisterAPIService(t, kubeconfig) })
	dir := filepath.Join(work, "artifacts")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "artifacts"))); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	if out, err := run(t, "", filepath.Join(root, "hack", "gen-serving-cert.sh"), certDir); err != nil {
		t.Fatalf("gen-serving-cert: %v\n%s", err, out)
	}
	mustKubectl(t, kubeconfig, "", "apply", "-k", dir)
	return certDir
}

// unregisterAPIService removes the APIService of wasm-apiserver, for when
// no server serves it.
func unregisterAPIService(t *testing.T, kubeconfig string) {
	t.Helper()
	if out, err := runAfter(time.Minute, "kubectl", "--kubeconfig", kubeconfig, "delete", apiService, "--ignore-not-found"); err != nil {
		t.Logf("removing the APIService: %v\n%s", err, out)
	}
}

// buildServer builds the wasm-apiserver binary into work.
func buildServer(t *testing.T, root, work string) string {
	t.Helper()
	bin := filepath.Join(work, "wasm-apiserver")
	if out, err := run(t, "", "go", "build", "-o", bin, filepath.Join(root, "cmd", "wasm-apiserver")); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveBehindAggregator installs artifacts/ and runs the server on the host
// as the server's ServiceAccount, with the Service's EndpointSlice
// pointing at it. The StatefulSet's pod does not start: without the local
// node no kubelet runs, and with it no PersistentVolume is there for the
// pod's claim (TestNode_InstallFromArtifacts provides one).
func serveBehindAggregator(t *testing.T, c *cluster, root, work string) *serverProcess {
	t.Helper()
	certDir := applyArtifacts(t, c.Kubeconfig, root, work)
	srv := &serverProcess{bin: buildServer(t, root, work), stateDir: filepath.Join(work, "state"), certDir: certDir,
		kubeconfig: filepath.Join(work, "wasm-apiserver.kubeconfig"), port: freePort(t)}
	if err := os.MkdirAll(srv.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	saKubeconfig(t, c, "wasm-system", "wasm-apiserver", srv.kubeconfig)
	mustKubectl(t, c.Kubeconfig, endpointSlice(srv.port), "apply", "-f", "-")
	srv.start(t)
	return srv
}
