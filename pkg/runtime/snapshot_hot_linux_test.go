//go:build linux

package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"k8s.io/component-base/metrics"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestSnapshot_HotPages follows a counter guest through a chain of wakes,
// each restored from the snapshot the last one saved, as the host runs a
// suspended controller: a snapshot lists the pages its wake wrote, the
// next restore makes them the guest's own before its reconcile, and the
// guest's state is the snapshot's whether or not they were copied in. (A
// restore of an SDK guest runs its reconciler selection, which writes a
// few pages of its own.)
func TestSnapshot_HotPages(t *testing.T) {
	reg := metrics.NewKubeRegistry()
	r, err := runtime.New(t.Context(), runtime.SharedCache(runtime.Config{
		CacheDir: filepath.Join(t.TempDir(), "cache"), ImageDir: filepath.Join(t.TempDir(), "images"), Metrics: reg}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	copied := func() float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "wasm_apiserver_snapshot_hot_pages_copied_total" {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0 // a counter never added to is not gathered
	}
	dir := t.TempDir()
	path := func(k int) string { return filepath.Join(dir, fmt.Sprintf("wake-%d", k)) }

	saveCounter(t, m, path(0), 1)
	if v, hot, err := runtime.SnapshotHot(path(0)); err != nil || v != 4 || len(hot) != 0 {
		t.Fatalf("snapshot of a fresh instance: version %d, hot runs %+v, %v; want version 4 and none: nothing tells what it wrote", v, hot, err)
	}

	// wake restores snapshot k-1, counts the pages it holds before the
	// guest reconciles, reconciles and saves snapshot k.
	wake := func(k int, from string) (own int) {
		t.Helper()
		inst, err := m.RestoreFile(t.Context(), counterConfig, from)
		if err != nil {
			t.Fatalf("wake %d: %v", k, err)
		}
		defer inst.Close(context.Background())
		if own, err = inst.OwnPages(); err != nil {
			t.Skipf("the kernel's page map: %v", err)
		}
		if c, _ := report(t, inst, "report"); c != int64(k+1) {
			t.Errorf("wake %d: count %d, want %d", k, c, k+1)
		}
		if _, err := inst.SaveSnapshot(path(k)); err != nil {
			t.Fatal(err)
		}
		return own
	}
	hotPages := func(p string) (pages, maxAge int) {
		t.Helper()
		_, hot, err := runtime.SnapshotHot(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hot {
			pages += h.Pages
			maxAge = max(maxAge, h.Age)
		}
		return pages, maxAge
	}

	selected := wake(1, path(0)) // the pages the selection wrote
	hot1, age1 := hotPages(path(1))
	if hot1 <= selected || age1 != 0 {
		t.Fatalf("snapshot of a restored guest that reconciled: %d hot pages, oldest %d; want more than the selection's %d, all of age 0", hot1, age1, selected)
	}
	if n := copied(); n != 0 {
		t.Errorf("hot pages copied before any snapshot listed one: %v", n)
	}
	own := wake(2, path(1))
	if own < hot1 {
		t.Errorf("restored from a snapshot of %d hot pages, the guest holds %d of its own before it reconciles, want them all", hot1, own)
	}
	if n := copied(); n != float64(hot1) {
		t.Errorf("wasm_apiserver_snapshot_hot_pages_copied_total %v, want the %d the restore copied", n, hot1)
	}
	t.Logf("pages the guest holds before it reconciles: %d with no hot runs, %d with %d hot pages", selected, own, hot1)
	if _, age := hotPages(path(2)); age != 1 {
		t.Errorf("after a restore that copied the hot pages in, the oldest is of age %d, want 1", age)
	}

	// Down the chain, a page copied in at every restore but never faulted
	// again leaves the list at maxHotAge: the list does not grow without
	// end, and its oldest page is below the age limit.
	const chain = 20
	for k := 3; k <= chain; k++ {
		wake(k, path(k-1))
		if pages, age := hotPages(path(k)); pages > 2*hot1 || age >= 8 {
			t.Errorf("wake %d: %d hot pages (first %d), oldest of age %d, want at most %d and below 8", k, pages, hot1, age, 2*hot1)
		}
	}

	// With the hot runs off, the restore leaves every page to fault.
	r.SetPrefault(false)
	defer r.SetPrefault(true)
	inst, err := m.RestoreFile(t.Context(), counterConfig, path(1))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	if own, _ := inst.OwnPages(); own != selected {
		t.Errorf("with prefaulting off, a restore left the guest %d pages of its own, want the selection's %d", own, selected)
	}
	if c, _ := report(t, inst, "report"); c != 3 {
		t.Errorf("count %d, want 3", c)
	}
}

// TestSnapshot_Version3 restores a snapshot as an earlier host wrote it,
// without hot runs.
func TestSnapshot_Version3(t *testing.T) {
	_, m, _, path := savedCounter(t)
	if err := runtime.DowngradeSnapshot(path); err != nil {
		t.Fatal(err)
	}
	if v, _, err := runtime.SnapshotHot(path); err != nil || v != 3 {
		t.Fatalf("downgraded snapshot: version %d, %v; want 3", v, err)
	}
	inst, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatalf("RestoreFile of a version 3 snapshot: %v", err)
	}
	defer inst.Close(context.Background())
	if c, _ := report(t, inst, "report"); c != 4 {
		t.Errorf("count after restoring a version 3 snapshot = %d, want 4", c)
	}
}
