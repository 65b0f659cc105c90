package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// guest returns the bytes of test/guests/<name> built for wasip1.
func guest(t testing.TB, name string) []byte {
	t.Helper()
	return guesttest.Build(t, name)
}

// shared is a runtime the tests that need no runtime of their own share,
// so that each guest is compiled once for the whole package.
var shared struct {
	once sync.Once
	r    *runtime.Runtime
	err  error
}

// sharedRuntime returns the shared runtime, made on first use.
func sharedRuntime(t testing.TB) *runtime.Runtime {
	t.Helper()
	shared.once.Do(func() {
		shared.r, shared.err = runtime.New(context.Background(), runtime.SharedCache(runtime.Config{}))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.r
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.r != nil {
		_ = shared.r.Close(context.Background())
	}
	runtime.CloseSharedCache()
	guesttest.Cleanup()
	if benchCache != "" {
		_ = os.RemoveAll(benchCache)
	}
	os.Exit(code)
}

// fakeAPI answers every request with a ConfigMap, or 404 for name "missing",
// and records what it was asked.
type fakeAPI struct {
	mu       sync.Mutex
	requests []runtime.APIRequest
}

func (f *fakeAPI) ServeAPI(_ context.Context, req *runtime.APIRequest) *runtime.APIResponse {
	f.mu.Lock()
	f.requests = append(f.requests, *req)
	f.mu.Unlock()
	if strings.HasSuffix(req.Path, "/missing") {
		return &runtime.APIResponse{Status: http.StatusNotFound, Body: json.RawMessage(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)}
	}
	return &runtime.APIResponse{Status: http.StatusOK, Body: json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`)}
}

func newRuntime(t testing.TB) *runtime.Runtime {
	t.Helper()
	r, err := runtime.New(context.Background(), runtime.SharedCache(runtime.Config{CacheDir: filepath.Join(t.TempDir(), "cache")}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func instantiate(t testing.TB, r *runtime.Runtime, name string, api runtime.APIHandler, limit uint64) *runtime.Instance {
	t.Helper()
	m, err := r.Load(t.Context(), guest(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "test/" + name, MemoryLimit: limit, API: api})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close(context.Background()) })
	return inst
}

func TestInstance_Reconcile(t *testing.T) {
	r := newRuntime(t)
	api := &fakeAPI{}
	inst := instantiate(t, r, "echo", api, 64<<20)

	tests := []struct {
		name        string
		req         runtime.Request
		wantRequeue time.Duration
		wantErr     string
	}{
		{name: "found", req: runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}},
		{name: "requeue", req: runtime.Request{Namespace: "default", Name: "requeue", Reason: "event"}, wantRequeue: 1234 * time.Millisecond},
		{name: "api error reaches the guest", req: runtime.Request{Namespace: "default", Name: "missing", Reason: "resync"}, wantErr: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := inst.Reconcile(t.Context(), tt.req)
			if inst.HoldsCall() {
				t.Error("the idle instance keeps the call's input and API response")
			}
			if tt.wantErr != "" {
				var ge *runtime.GuestError
				if !errors.As(err, &ge) || !strings.Contains(ge.Message, tt.wantErr) {
					t.Fatalf("Reconcile error = %v, want a GuestError containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if res.RequeueAfter != tt.wantRequeue {
				t.Errorf("RequeueAfter = %v, want %v", res.RequeueAfter, tt.wantRequeue)
			}
		})
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.requests) != 3 || api.requests[0].Method != "GET" || api.requests[0].Path != "/api/v1/namespaces/default/configmaps/cm" {
		t.Errorf("API requests = %+v", api.requests)
	}
	if inst.Closed() || inst.MemoryBytes() == 0 {
		t.Errorf("instance closed=%v memory=%d after successful reconciles", inst.Closed(), inst.MemoryBytes())
	}
}

func TestInstance_Failures(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		guest   string
		timeout time.Duration
		limit   uint64
		want    error
	}{
		{guest: "trap", timeout: 10 * time.Second, limit: 64 << 20, want: runtime.ErrTrap},
		{guest: "loop", timeout: 200 * time.Millisecond, limit: 64 << 20, want: runtime.ErrTimeout},
		{guest: "oom", timeout: 30 * time.Second, limit: 16 << 20, want: runtime.ErrMemoryLimit},
	}
	for _, tt := range tests {
		t.Run(tt.guest, func(t *testing.T) {
			inst := instantiate(t, r, tt.guest, &fakeAPI{}, tt.limit)
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			_, err := inst.Reconcile(ctx, runtime.Request{Namespace: "default", Name: "x", Reason: "event"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Reconcile error = %v, want %v", err, tt.want)
			}
			if !inst.Closed() {
				t.Errorf("instance still open after %v", tt.want)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 300 {
				t.Errorf("Reconcile error is not one short line: %q", msg)
			}
			if _, err := inst.Reconcile(t.Context(), runtime.Request{Name: "x"}); !errors.Is(err, runtime.ErrClosed) {
				t.Errorf("Reconcile after failure = %v, want ErrClosed", err)
			}
		})
	}
	// The host is unharmed: a healthy guest still runs.
	if _, err := instantiate(t, r, "echo", &fakeAPI{}, 64<<20).Reconcile(t.Context(), runtime.Request{Namespace: "d", Name: "x"}); err != nil {
		t.Errorf("healthy guest after failures: %v", err)
	}
}

// TestInstance_LoopingGuestLetsGCRun checks that a guest spinning in a
// loop does not hold up the host's garbage collector, which stops the world
// and so needs every goroutine, the one running the guest included, to
// reach a point where Go can preempt it.
func TestInstance_LoopingGuestLetsGCRun(t *testing.T) {
	r := newRuntime(t)
	inst := instantiate(t, r, "loop", &fakeAPI{}, 64<<20)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := inst.Reconcile(ctx, runtime.Request{Namespace: "default", Name: "x"})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // into its loop
	for range 3 {
		goruntime.GC()
	}
	select {
	case err := <-done:
		t.Fatalf("the looping guest returned (%v) before the collections, which proves nothing", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, runtime.ErrTimeout) {
		t.Errorf("Reconcile of a looping guest, canceled = %v, want ErrTimeout", err)
	}
}

func TestRuntime_Load(t *testing.T) {
	r := newRuntime(t)
	echo := guest(t, "echo")
	tests := []struct {
		name    string
		wasm    []byte
		wantErr string
	}{
		{name: "not wasm", wasm: []byte("#!/bin/sh\necho hello"), wantErr: "not a WebAssembly module"},
		// The header is checked as the module store checks it: a component
		// is named as one, not reported as a broken module.
		{name: "component", wasm: []byte("\x00asm\x0d\x00\x01\x00"), wantErr: "a WebAssembly component, not a core module"},
		{name: "version 2", wasm: []byte("\x00asm\x02\x00\x00\x00"), wantErr: "version 02000000 is not supported"},
		{name: "truncated", wasm: echo[:len(echo)/2], wantErr: "compilation failed"},
		{name: "no ABI marker", wasm: guest(t, "noabi"), wantErr: "exports no wasm_apiserver_abi_v<N> marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Load(t.Context(), tt.wasm)
			var abiErr *runtime.ABIError
			if !errors.As(err, &abiErr) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want an ABIError containing %q", err, tt.wantErr)
			}
		})
	}

	// One digest is compiled once and shared; the last release frees it.
	a, err := r.Load(t.Context(), echo)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Load(t.Context(), echo)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || r.LoadedModules() != 1 || a.Digest != wasmmodule.Digest(echo) {
		t.Fatalf("shared=%v loaded=%d digest=%s", a == b, r.LoadedModules(), a.Digest)
	}
	a.Release(t.Context())
	if r.LoadedModules() != 1 {
		t.Errorf("released one of two references: loaded = %d, want 1", r.LoadedModules())
	}
	b.Release(t.Context())
	if r.LoadedModules() != 0 {
		t.Errorf("released both references: loaded = %d, want 0", r.LoadedModules())
	}
}
