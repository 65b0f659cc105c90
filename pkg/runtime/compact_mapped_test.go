//go:build linux

package runtime_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// burstConfig is the burst guest's configuration in the tests of mapped
// memories.
var burstConfig = runtime.InstanceConfig{Name: "test/burst", MemoryLimit: 64 << 20, Logger: discard}

// usage returns the MemoryUsage of the instance's memory.
func usage(t *testing.T, inst *runtime.Instance) runtime.MemoryUsage {
	t.Helper()
	u, err := runtime.Usage(inst)
	if err != nil {
		t.Skipf("reading /proc/self/smaps: %v", err)
	}
	return u
}

// TestInstance_CompactMappedMemory checks that compacting a guest whose
// memory is mapped from files, a template's or a snapshot's, lowers its
// resident memory, never raising the pages it copied from the files, and
// that the guest's live objects survive: on a private file mapping the
// free pages the guest zeroes are copies of the file's pages, which only
// replacing them with anonymous memory gives back.
func TestInstance_CompactMappedMemory(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T) *runtime.Instance
	}{
		{name: "started from a template", start: func(t *testing.T) *runtime.Instance {
			r := newTemplateRuntime(t)
			m, err := r.Load(t.Context(), guest(t, "burst"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Release(context.Background()) })
			for range 2 {
				inst, err := m.Instantiate(t.Context(), burstConfig)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { inst.Close(context.Background()) })
				if runtime.MappedRuns(inst) > 0 {
					return inst
				}
			}
			t.Fatal("the second instance did not start from the first's template")
			return nil
		}},
		{name: "restored from a snapshot", start: func(t *testing.T) *runtime.Instance {
			r, _ := newImageRuntime(t)
			m, err := r.Load(t.Context(), guest(t, "burst"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Release(context.Background()) })
			inst, err := m.Instantiate(t.Context(), burstConfig)
			if err != nil {
				t.Fatal(err)
			}
			// The snapshot holds a burst's garbage, which the restored
			// guest's heap reuses.
			burstReconciles(t, inst, "warm", "burst", "after")
			path := filepath.Join(t.TempDir(), "burst.snap")
			if _, err := inst.SaveSnapshot(path); err != nil {
				t.Fatal(err)
			}
			inst.Close(context.Background())
			restored, err := m.RestoreFile(t.Context(), burstConfig, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { restored.Close(context.Background()) })
			if runtime.MappedRuns(restored) == 0 {
				t.Fatal("the snapshot was read, not mapped")
			}
			return restored
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := tt.start(t)
			burstReconciles(t, inst, "warm", "burst", "after")
			before := usage(t, inst)
			if before.FileMapped == 0 {
				t.Fatal("no part of the guest's memory is mapped from a file")
			}
			if _, err := inst.Compact(t.Context()); err != nil {
				t.Fatalf("Compact: %v", err)
			}
			after := usage(t, inst)
			t.Logf("before Compact %+v, after %+v", before, after)
			if after.Resident+8<<20 > before.Resident || after.Own+8<<20 > before.Own {
				t.Errorf("Compact lowered the resident memory from %d to %d bytes, its own from %d to %d; want most of the burst's 20 MB back",
					before.Resident, after.Resident, before.Own, after.Own)
			}
			if after.FileCopies > before.FileCopies {
				t.Errorf("Compact raised the pages copied from the files from %d to %d bytes; want them given back", before.FileCopies, after.FileCopies)
			}
			// Zero pages are mapped where the runs said a file's: a
			// snapshot no longer takes any page for the file's
			// (pagehints.go).
			same, told, err := inst.SnapshotPageHints()
			if err != nil || !same {
				t.Errorf("after Compact, the snapshot's page hints disagree with the memory (%v)", err)
			}
			if after.FileCopies < before.FileCopies && told > 0 {
				t.Errorf("after Compact mapped over the runs, %d pages are still told from the snapshot's runs", told)
			}

			// The guest checks its live objects at every reconcile; it
			// bursts and compacts again as before.
			burstReconciles(t, inst, "check", "burst", "check")
			before = usage(t, inst)
			if _, err := inst.Compact(t.Context()); err != nil {
				t.Fatalf("second Compact: %v", err)
			}
			after = usage(t, inst)
			if after.Resident > before.Resident || after.Own > before.Own || after.FileCopies > before.FileCopies {
				t.Errorf("second Compact: %+v before, %+v after; want no more resident", before, after)
			}
			burstReconciles(t, inst, "check")
		})
	}
}
