package runtime

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// TestCompact_RemapsBounded checks that the runs of file-mapped pages
// compaction replaces with anonymous memory are counted with the runs of
// files mapped into guests' memories (maxLiveMappedRuns) until the guest
// is closed, at most maxCompactRemaps at a time, and that once the
// process's or the memory's share is spent, compacting a guest whose
// memory is mostly mapped from files copies none of the files' pages: the
// guest is not asked to zero its free memory.
func TestCompact_RemapsBounded(t *testing.T) {
	dir := t.TempDir()
	r, err := New(t.Context(), SharedCache(Config{CacheDir: filepath.Join(dir, "cache"), ImageDir: filepath.Join(dir, "images")}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	m, err := r.Load(t.Context(), guesttest.Build(t, "burst"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	cfg := InstanceConfig{Name: "test/burst", MemoryLimit: 64 << 20, Logger: logr.Discard()}
	reconcile := func(inst *Instance, names ...string) {
		t.Helper()
		for _, name := range names {
			if _, err := inst.Reconcile(t.Context(), Request{Namespace: "default", Name: name, Reason: "event"}); err != nil {
				t.Fatalf("Reconcile %s: %v", name, err)
			}
		}
	}
	// The snapshot holds a burst's garbage: a restored guest's burst
	// reuses the file-mapped heap, copying its pages.
	inst, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reconcile(inst, "warm", "burst", "after")
	path := filepath.Join(dir, "burst.snap")
	if _, err := inst.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	inst.Close(context.Background())

	tests := []struct {
		name string
		// spend spends the share of remaps of the restored instance.
		spend func(inst *Instance)
	}{
		{name: "within bounds"},
		{name: "process's share spent", spend: func(*Instance) {
			r.mappedRuns.Add(maxLiveMappedRuns - r.mappedRuns.Load())
		}},
		{name: "memory's share spent", spend: func(inst *Instance) { inst.memoryBuf.remaps = maxMemoryRemaps }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := m.RestoreFile(t.Context(), cfg, path)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(context.Background())
			mapped := inst.memoryBuf.runs
			if mapped == 0 {
				t.Fatal("the snapshot was read, not mapped")
			}
			reconcile(inst, "check", "burst", "check")
			if tt.spend != nil {
				tt.spend(inst)
			}
			counted := r.mappedRuns.Load()
			remapsBefore := inst.memoryBuf.remaps
			before, err := Usage(inst)
			if err != nil {
				t.Skipf("reading the page map: %v", err)
			}
			if _, err := inst.Compact(t.Context()); err != nil {
				t.Fatalf("Compact: %v", err)
			}
			after, err := Usage(inst)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("before Compact %+v, after %+v", before, after)
			remaps := inst.memoryBuf.remaps - remapsBefore
			if after.Own > before.Own || after.FileCopies > before.FileCopies {
				t.Errorf("Compact raised the memory of the guest: %+v before, %+v after", before, after)
			}
			if tt.spend == nil {
				if remaps == 0 || remaps > maxCompactRemaps {
					t.Errorf("Compact replaced %d runs, want between 1 and %d", remaps, maxCompactRemaps)
				}
				if after.Own+8<<20 > before.Own {
					t.Errorf("Compact lowered the guest's own memory from %d to %d bytes; want most of the burst's 20 MB back", before.Own, after.Own)
				}
			} else if remaps != 0 {
				t.Errorf("Compact replaced %d runs past the bound, want none", remaps)
			}
			if got, want := inst.memoryBuf.runs, mapped+int64(remaps); got != want {
				t.Errorf("memory charged for %d runs, want %d (the snapshot's and the remaps)", got, want)
			}
			if got, want := r.mappedRuns.Load(), counted+int64(remaps); got != want {
				t.Errorf("%d runs counted, want %d", got, want)
			}
			reconcile(inst, "check")
			inst.Close(context.Background())
			if got, want := r.mappedRuns.Load(), counted-mapped; got != want {
				t.Errorf("%d runs counted after the instance closed, want %d", got, want)
			}
			r.mappedRuns.Store(0)
		})
	}
}
