package integration

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/cmd/server"
	clientset "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned"
)

// testServer is wasm-apiserver running in this process, standalone, with its
// embedded etcd, on a free loopback port.
type testServer struct {
	StateDir   string
	Kubeconfig string
	Config     *rest.Config
	Client     clientset.Interface

	cancel context.CancelFunc
	done   chan error
}

// startServer runs the server on stateDir and waits until it is ready. It is
// stopped at the end of the test unless stopped earlier. Each of opts may
// change the options before they are completed.
func startServer(t *testing.T, stateDir string, opts ...func(*server.Options)) *testServer {
	t.Helper()
	o, port := completedOptions(t, stateDir, opts...)
	err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{StateDir: stateDir, Kubeconfig: filepath.Join(stateDir, "kubeconfig"), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- server.Run(ctx, o) }()
	t.Cleanup(func() { s.stop(t) })

	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-s.done:
			s.done <- err
			return false, errors.Join(errors.New("server exited before it was ready"), err)
		default:
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
		if err != nil || cfg.Host != "https://127.0.0.1:"+strconv.Itoa(port) {
			return false, nil
		}
		c, err := clientset.NewForConfig(cfg)
		if err != nil {
			return false, err
		}
		if _, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
			return false, nil
		}
		s.Config, s.Client = cfg, c
		return true, nil
	})
	if err != nil {
		t.Fatalf("waiting for wasm-apiserver: %v", err)
	}
	return s
}

// stop shuts the server down and waits for it, and its etcd, to exit.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server exited with: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Errorf("server did not stop within 90s")
	}
}

// kubectl runs the real kubectl against the server and returns its output.
func (s *testServer) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath(t), append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustKubectl is kubectl that fails the test on error.
func (s *testServer) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := s.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

func kubectlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is required on PATH: %v", err)
	}
	return p
}

// completedOptions are the options of a standalone server on stateDir that
// serves on a free loopback port and runs no controller (this suite tests
// the API; running controllers needs a cluster: e2e), changed by opts.
func completedOptions(t *testing.T, stateDir string, opts ...func(*server.Options)) (*server.Options, int) {
	t.Helper()
	o := server.NewOptions()
	o.StateDir = stateDir
	o.Standalone = true
	o.RunControllers = false
	for _, opt := range opts {
		opt(o)
	}
	ln, port, err := genericoptions.CreateListener("tcp", "127.0.0.1:0", net.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	o.Recommended.SecureServing.Listener = ln
	o.Recommended.SecureServing.BindAddress = net.ParseIP("127.0.0.1")
	o.Recommended.SecureServing.BindPort = port
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	return o, port
}
