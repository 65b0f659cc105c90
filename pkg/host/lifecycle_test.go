package host

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// lifecycleHost is a host built by New whose loaders load nothing: tests
// put their controllers in it themselves.
func lifecycleHost(t *testing.T, cluster *rest.Config) *Host {
	t.Helper()
	store, err := modules.OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Controllers: fake.NewSimpleClientset(), Cluster: cluster, SnapshotDir: t.TempDir(),
		Modules: modules.FetcherConfig{Store: store}})
	if err != nil {
		t.Fatal(err)
	}
	h.syncKey = func(context.Context, string) error { return nil }
	return h
}

// startHost starts h and waits until it is ready.
func startHost(t *testing.T, h *Host) {
	t.Helper()
	if err := h.Ready(); err == nil {
		t.Fatal("Ready before Start")
	}
	h.Start(context.Background())
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return h.Ready() == nil, nil })
	if err != nil {
		t.Fatalf("host not ready: %v", h.Ready())
	}
}

// TestHost_ReadyOnceSynced: the host is not ready before Start, nor until
// its cache of WasmControllers has synced, nor after Stop.
func TestHost_ReadyOnceSynced(t *testing.T) {
	h := lifecycleHost(t, nil)
	listed := make(chan struct{})
	client := fake.NewSimpleClientset()
	client.PrependReactor("list", "wasmcontrollers", func(clienttesting.Action) (bool, k8sruntime.Object, error) {
		<-listed
		return false, nil, nil
	})
	h.cfg.Controllers = client
	if err := h.Ready(); err == nil {
		t.Fatal("ready before Start")
	}
	h.Start(context.Background())
	defer h.Stop(context.Background())
	time.Sleep(200 * time.Millisecond)
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "sync") {
		t.Errorf("Ready while the list of WasmControllers is unanswered = %v, want waiting for the cache to sync", err)
	}
	close(listed)
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return h.Ready() == nil, nil })
	if err != nil {
		t.Fatalf("not ready once synced: %v", h.Ready())
	}
	if err := h.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(); err == nil {
		t.Error("ready after Stop")
	}
}

// TestHost_StopSnapshotsIdleGuests: stopping the host while a reconcile of
// one controller runs (and would run for an hour) cancels it within a
// bound, writes the snapshot of another controller's idle guest, and
// writes that controller's status for the last time; the snapshot restores
// the guest's memory.
func TestHost_StopSnapshotsIdleGuests(t *testing.T) {
	wasm := guesttest.Build(t, "counter")
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	load := func() *wasmruntime.Module {
		m, err := rt.Load(t.Context(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	h := lifecycleHost(t, nil)
	startHost(t, h)

	idle := counterController(t, &h.hostServices, load(), 1, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle,
		IdleAfter: &metav1.Duration{Duration: time.Hour}, Snapshot: true})
	idle.status.start(idle.ctx)
	for range 3 {
		if _, err := idle.reconcile(idle.ctx, wakeKey{"ns", "a"}, "event"); err != nil {
			t.Fatal(err)
		}
	}
	if n := idle.pool.count(); n != 1 {
		t.Fatalf("%d instances resident after Idle reconciles, want 1", n)
	}
	busy := testController(t, &h.hostServices, "busy")
	running, cancelled := make(chan struct{}), make(chan struct{})
	busy.run = func(ctx context.Context, _ *turn, _ wakeKey, _ string) (wasmruntime.Result, error) {
		close(running)
		select {
		case <-ctx.Done():
			close(cancelled)
			return wasmruntime.Result{}, ctx.Err()
		case <-time.After(time.Hour):
			return wasmruntime.Result{}, nil
		}
	}
	h.mu.Lock()
	h.controllers[idle.name], h.controllers[busy.name] = idle, busy
	h.mu.Unlock()
	h.scheduler.start(busy)
	busy.enqueue(wakeKey{"ns", "slow"}, "event")
	<-running

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(start); took > maxStopWait {
		t.Errorf("Stop took %v, want under %v", took, maxStopWait)
	}
	select {
	case <-cancelled:
	default:
		t.Error("the running reconcile was not cancelled")
	}
	if err := h.Ready(); err == nil {
		t.Error("Ready after Stop")
	}
	if fi, err := os.Stat(idle.pool.snapshotPath()); err != nil || fi.Size() == 0 {
		t.Fatalf("the idle guest's snapshot: %v", err)
	}
	got, err := idle.status.client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "counter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(got.Status.Conditions, ConditionSnapshotted); cond == nil ||
		cond.Status != metav1.ConditionTrue || got.Status.SnapshotBytes == 0 {
		t.Errorf("status after Stop: Snapshotted %+v, snapshotBytes %d; want True and the size", cond, got.Status.SnapshotBytes)
	}

	next, _ := snapshotServices(t)
	next.snapshotRoot = h.snapshotRoot
	// The stop released the module with its controller: load it again.
	restored := counterController(t, next, load(), 1, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true})
	if got := count(t, restored); got != "count=4" {
		t.Errorf("restored after the stop, the guest reports %s, want count=4", got)
	}
}

// TestHost_StopLeavesNoGoroutine: once Stop returns, every goroutine the
// host started has returned: its informers, the guests' shared informers,
// the RBAC informers, the Event broadcaster and its workers.
func TestHost_StopLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// Idle keep-alive connections of client-go's shared transports.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
	cluster := httptest.NewServer(http.HandlerFunc(serveEmptyCluster))
	defer cluster.Close()
	h := lifecycleHost(t, &rest.Config{Host: cluster.URL})
	startHost(t, h)
	defer h.Stop(context.Background()) // on failure: the cluster waits for the host's watches to end

	key := proxy.InformerKey{Resource: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}}
	if err := proxy.WaitForSync(t.Context(), h.informers.Acquire(key), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c := testController(t, &h.hostServices, "events")
	h.event(c.wc, "Normal", "Loaded", "an Event to send")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := h.informers.Len(); n != 0 {
		t.Errorf("%d shared informers after Stop, want 0", n)
	}
}

// serveEmptyCluster is a cluster with nothing in it: lists are empty,
// watches send the end of their (empty) initial events and then wait for
// the client to leave, and what is created is echoed.
func serveEmptyCluster(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// /api/v1/configmaps, /apis/rbac.authorization.k8s.io/v1/roles, ...
	dir, resource := path.Split(r.URL.Path)
	apiVersion := strings.TrimPrefix(strings.TrimPrefix(strings.Trim(dir, "/"), "apis/"), "api/")
	kind := map[string]string{"configmaps": "ConfigMap", "roles": "Role", "rolebindings": "RoleBinding",
		"clusterroles": "ClusterRole", "clusterrolebindings": "ClusterRoleBinding"}[resource]
	switch {
	case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
		w.WriteHeader(http.StatusOK)
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{
				"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"resourceVersion": "1",
					"annotations": map[string]any{metav1.InitialEventsAnnotationKey: "true"}}}})
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": apiVersion, "kind": kind + "List",
			"metadata": map[string]any{"resourceVersion": "1"}, "items": []any{}})
	}
}
