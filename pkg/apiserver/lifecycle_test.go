package apiserver

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
)

// fakeHost records what the server asks of the host. Its Stop asks the
// server for its version, as the host writes statuses through it.
type fakeHost struct {
	loopback *restclient.Config
	// blockStop makes Stop wait for its context.
	blockStop bool

	mu     sync.Mutex
	calls  []string
	ready  bool
	served error // what the server answered during Stop
}

func (f *fakeHost) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeHost) Start(context.Context) { f.record("start") }

func (f *fakeHost) Stop(ctx context.Context) error {
	f.record("stop")
	client, err := kubernetes.NewForConfig(f.loopback)
	if err == nil {
		_, err = client.Discovery().ServerVersion()
	}
	f.mu.Lock()
	f.served = err
	f.mu.Unlock()
	if f.blockStop {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeHost) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ready {
		return errors.New("not yet")
	}
	return nil
}

func (f *fakeHost) setReady() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready = true
}

// runServer runs a generic API server on a loopback port, without
// authentication or storage, with h installed, until the returned cancel
// is called; the returned channel then says how it ended.
func runServer(t *testing.T, h *fakeHost, stopTimeout time.Duration, release func()) (context.CancelFunc, chan error) {
	t.Helper()
	cfg := genericapiserver.NewRecommendedConfig(Codecs)
	cfg.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	secure := genericoptions.NewSecureServingOptions().WithLoopback()
	ln, port, err := genericoptions.CreateListener("tcp", "127.0.0.1:0", net.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	secure.Listener, secure.BindPort, secure.BindAddress = ln, port, net.ParseIP("127.0.0.1")
	secure.ServerCert.CertDirectory = t.TempDir()
	if err := secure.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	if err := secure.ApplyTo(&cfg.SecureServing, &cfg.LoopbackClientConfig); err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Complete().New("test", genericapiserver.NewEmptyDelegate())
	if err != nil {
		t.Fatal(err)
	}
	h.loopback = cfg.LoopbackClientConfig
	if err := installHost(s, h, stopTimeout, release); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(finished)
		done <- s.PrepareRun().RunWithContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return cancel, done
}

// readyz returns the server's verbose readyz answer.
func readyz(t *testing.T, h *fakeHost) (string, error) {
	t.Helper()
	client, err := kubernetes.NewForConfig(h.loopback)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(t.Context())
	return string(out), err
}

// TestInstallHost_StopsWhileServing: the host starts once the server
// serves, readyz fails until the host is ready, and on shutdown the host
// is stopped while the server still answers, before what it runs on is
// released.
func TestInstallHost_StopsWhileServing(t *testing.T) {
	h := &fakeHost{}
	release := func() { h.record("release") }
	cancel, done := runServer(t, h, 10*time.Second, release)

	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, _ := readyz(t, h)
		last = out
		return strings.Contains(out, "[-]"+readyzName+" failed"), nil
	})
	if err != nil {
		t.Fatalf("readyz does not report the host that is not ready: %s", last)
	}
	h.setReady()
	err = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, err := readyz(t, h)
		last = out
		return err == nil && strings.Contains(out, "[+]"+readyzName+" ok"), nil
	})
	if err != nil {
		t.Fatalf("readyz once the host is ready: %s", last)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []string{"start", "stop", "release"}; !slices.Equal(h.calls, want) {
		t.Errorf("calls %v, want %v", h.calls, want)
	}
	if h.served != nil {
		t.Errorf("the server did not answer while the host stopped: %v", h.served)
	}
}

// TestInstallHost_StopIsBounded: a host that does not stop holds the
// server's shutdown at most the stop timeout, and what it runs on is not
// released under it.
func TestInstallHost_StopIsBounded(t *testing.T) {
	h := &fakeHost{blockStop: true}
	h.setReady()
	release := func() { h.record("release") }
	cancel, done := runServer(t, h, time.Second, release)
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, err := readyz(t, h)
		return err == nil, nil
	})
	if err != nil {
		t.Fatal("server not ready")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v with a stop timeout of 1s", took)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if slices.Contains(h.calls, "release") {
		t.Errorf("calls %v: released what a running host runs on", h.calls)
	}
}

// TestNew_UnusableStateDir: a state directory the controllers cannot use
// fails New, before the server serves.
func TestNew_UnusableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		stateDir string
	}{
		{name: "a file", stateDir: file},
		{name: "under a file", stateDir: filepath.Join(file, "sub")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			generic := genericapiserver.NewRecommendedConfig(Codecs)
			generic.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
			generic.LoopbackClientConfig = &restclient.Config{Host: "https://127.0.0.1:1"}
			generic.ExternalAddress = "127.0.0.1:1" // never serves
			cfg := &Config{GenericConfig: generic, ExtraConfig: ExtraConfig{RunControllers: true, StateDir: tt.stateDir}}
			s, err := cfg.Complete().New()
			if err == nil || !strings.Contains(err.Error(), "state directory["+tt.stateDir+"]") {
				t.Fatalf("New = %v, %v; want an error naming the state directory", s, err)
			}
		})
	}
}
