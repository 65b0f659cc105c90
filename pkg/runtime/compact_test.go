package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// burstReconciles runs reconciles of the burst guest for the given keys.
func burstReconciles(t *testing.T, inst *runtime.Instance, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: name, Reason: "event"}); err != nil {
			t.Fatalf("Reconcile %s: %v", name, err)
		}
	}
}

func TestInstance_Compact(t *testing.T) {
	r := sharedRuntime(t)
	inst := instantiate(t, r, "burst", &fakeAPI{}, 64<<20)
	burstReconciles(t, inst, "warm", "burst", "after")
	memBefore, before := inst.MemoryBytes(), runtime.ResidentBytes(inst)
	if before < 20<<20 {
		t.Fatalf("after a 20 MB burst %d bytes are resident; the test expects the burst's pages to be", before)
	}

	// The zero pages alone are few: the Go runtime leaves freed pages as
	// they were, so without the guest's zeroing nearly nothing goes back.
	scanned := runtime.ReleaseZeroPages(inst)
	if left := runtime.ResidentBytes(inst); left < 16<<20 {
		t.Errorf("giving back zero pages without the guest's help left %d bytes resident; the burst's garbage should still be there", left)
	}

	start := time.Now()
	released, err := inst.Compact(t.Context())
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	took := time.Since(start)
	after := runtime.ResidentBytes(inst)
	t.Logf("memory %d bytes; resident %d after the burst, %d after giving back zero pages (%d), %d after Compact (%d given back in %v)",
		memBefore, before, before-scanned, scanned, after, released, took)
	if after > 8<<20 {
		t.Errorf("after Compact %d bytes are resident; want the live heap's few MB", after)
	}
	if released < 12<<20 {
		t.Errorf("Compact gave back %d bytes; want most of the burst's 20 MB", released)
	}
	if grew := inst.MemoryBytes() - memBefore; grew > 256<<10 {
		t.Errorf("compacting grew the guest's memory by %d bytes; want at most 256 KiB", grew)
	}

	// The guest's live objects are intact (it checks them at every
	// reconcile), and it runs as before, bursts included.
	burstReconciles(t, inst, "check", "burst", "check")
	if _, err := inst.Compact(t.Context()); err != nil {
		t.Fatalf("second Compact: %v", err)
	}
	again, err := inst.Compact(t.Context())
	if err != nil {
		t.Fatalf("third Compact: %v", err)
	}
	if again > 1<<20 {
		t.Errorf("Compact right after Compact gave back %d bytes; want next to nothing", again)
	}
	burstReconciles(t, inst, "check")
}

func TestInstance_CompactWithoutExport(t *testing.T) {
	// The trap guest is raw ABI: it exports no compact.
	inst := instantiate(t, sharedRuntime(t), "trap", &fakeAPI{}, 64<<20)
	if _, err := inst.Compact(t.Context()); err != nil {
		t.Fatalf("Compact of a guest without the export: %v", err)
	}
	if inst.Closed() {
		t.Fatal("Compact closed a guest without the export")
	}
}

func TestInstance_CompactMisbehaving(t *testing.T) {
	r := sharedRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "misbehave"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	bystander := instantiate(t, r, "echo", &fakeAPI{}, 64<<20)
	// A guest with less than 8 MiB left below its limit is not asked to
	// zero its free heap, which may grow its memory.
	probe, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "test/misbehave", MemoryLimit: 64 << 20, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	nearLimit := probe.MemoryBytes() + 4<<20
	probe.Close(context.Background())
	tests := []struct {
		name    string
		mode    string
		limit   uint64
		wantErr error
	}{
		{name: "well-behaved"},
		{name: "loop", mode: "loop", wantErr: runtime.ErrTimeout},
		{name: "trap", mode: "trap", wantErr: runtime.ErrTrap},
		{name: "grow", mode: "grow", wantErr: runtime.ErrMemoryLimit},
		{name: "trap near its limit, not called", mode: "trap", limit: nearLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 64 << 20
			}
			// The default InitTimeout (10 s): compact has a deadline of
			// its own.
			inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "test/misbehave", MemoryLimit: limit,
				Env: map[string]string{"MISBEHAVE_COMPACT": tt.mode}, Logger: logr.Discard()})
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(context.Background())
			start := time.Now()
			_, err = inst.Compact(t.Context())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Compact error = %v, want %v", err, tt.wantErr)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Compact took %v; the guest's compact must end within a second", took)
			}
			if got := inst.Closed(); got != (tt.wantErr != nil) {
				t.Errorf("Closed() = %v after Compact error %v; a guest that fails in compact is discarded, one that does not is kept", got, err)
			}
			if _, err := bystander.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}); err != nil {
				t.Errorf("another guest's reconcile after this one's compact: %v", err)
			}
		})
	}
}
