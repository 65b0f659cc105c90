package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

const serverPath = "/var/lib/wasm-apiserver/compilation-cache/modules/0123.wasm"

// storageErr is a failure of the server's storage as the runtime reports
// it when compiling a module again after eviction.
func storageErr(wrapped error) error {
	return fmt.Errorf("module[sha256:0123]: compiling again after eviction: %w",
		&wasmruntime.StorageError{Op: "module[sha256:0123]: reading its kept bytes", Err: wrapped})
}

// TestIsPermanent_StorageFailuresAreRetried: a load that the server's
// storage failed is retried until the storage works, whatever the failure
// wraps; a module the compiler refuses waits for a spec change.
func TestIsPermanent_StorageFailuresAreRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "kept bytes unreadable", err: storageErr(&fs.PathError{Op: "open", Path: serverPath, Err: syscall.EIO})},
		{name: "compilation cache failing, with the compiler's error", err: storageErr(&wasmruntime.ABIError{Reason: "compilation failed: write: no space left on device"})},
		{name: "module store failing", err: &modules.Error{Reason: modules.ReasonStorageFailed, Message: "the server's storage failed", Permanent: true}},
		{name: "module the compiler refuses", err: &wasmruntime.ABIError{Reason: "compilation failed"}, want: true},
		{name: "module not Wasm", err: &modules.Error{Reason: modules.ReasonNotWasm, Permanent: true}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isPermanent(tt.err); got != tt.want {
				t.Errorf("isPermanent = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestController_ProcessReportsStorageFailures: a wake that the server's
// storage fails (the evicted module's code cannot be read back) is the
// server's: Ready says StorageFailed, never that the guest failed, and
// neither status nor the Event names the server's files. (The wake is
// retried as every failed wake is.)
func TestController_ProcessReportsStorageFailures(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "c", Generation: 1}}
	client := fake.NewSimpleClientset(wc)
	clock := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	recorder := record.NewFakeRecorder(10)
	env := newTestServices(testServices{clock: clock, recorder: recorder})
	c := newController(env, wc, nil, newStatusWriter(client, clock, wc))
	defer c.cancel()
	c.run = func(context.Context, *turn, wakeKey, string) (wasmruntime.Result, error) {
		return wasmruntime.Result{}, fmt.Errorf("starting guest: %w",
			storageErr(&fs.PathError{Op: "open", Path: serverPath, Err: syscall.ENOENT}))
	}
	key := wakeKey{Namespace: "tenant", Name: "obj"}
	processOnce(c, key)
	got, ready := flushedReady(t, c, client)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonStorageFailed {
		t.Errorf("Ready = %+v, want False %s", ready, ReasonStorageFailed)
	}
	close(recorder.Events)
	published := fmt.Sprintf("%+v", got.Status)
	for e := range recorder.Events {
		published += e
	}
	if strings.Contains(published, "/var/lib") {
		t.Errorf("status or Events name the server's files: %s", published)
	}
}

// TestController_SnapshotKeptWhenStorageFailsTheModule: when the module's
// code cannot be read back from the server's storage as the guest resumes,
// the guest's snapshot is not what failed: it is kept, the wake fails and
// is retried, and once the storage works the guest resumes from it.
func TestController_SnapshotKeptWhenStorageFailsTheModule(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "cache")
	// A budget of one byte evicts the compiled code whenever no instance
	// runs: each resume compiles it again from the kept bytes.
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: cacheDir, CompiledBudgetBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	m, err := rt.Load(t.Context(), guesttest.Build(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := snapshotServices(t)
	c := counterController(t, h, m, 1, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true})
	if got := count(t, c); got != "count=1" {
		t.Fatalf("first reconcile reports %s, want count=1", got)
	}

	kept := filepath.Join(cacheDir, "modules", strings.TrimPrefix(m.Digest, "sha256:")+".wasm")
	code, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "report"}, "event"); !errors.Is(err, wasmruntime.ErrStorage) {
		t.Fatalf("wake while the module's bytes cannot be read: %v, want a storage failure", err)
	}
	if _, err := os.Stat(c.pool.snapshotPath()); err != nil {
		t.Errorf("the snapshot was discarded: %v", err)
	}
	if err := os.WriteFile(kept, code, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := count(t, c); got != "count=2" {
		t.Errorf("once the storage works the guest reports %s, want count=2 from its snapshot", got)
	}
}
