package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestModule_SingleReconcilerRefusesNames: a module that exports no
// select_reconciler (built before bundles, or by hand) runs as before when
// no reconciler is named, and refuses any name at once, without starting an
// instance that would run its one reconciler under another's name.
func TestModule_SingleReconcilerRefusesNames(t *testing.T) {
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	driver := driverModule()
	m, err := r.Load(t.Context(), driver.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	if m.Bundle() {
		t.Fatal("a module without select_reconciler is taken for a bundle")
	}
	cfg := InstanceConfig{Name: "test/driver", MemoryLimit: 1 << 20}
	if err := m.CheckReconciler(t.Context(), cfg); err != nil {
		t.Errorf("CheckReconciler of the default = %v", err)
	}
	inst, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Instantiate of the default: %v", err)
	}
	inst.Close(t.Context())

	cfg.Reconciler = "replicator"
	const want = `the module cannot run reconciler "replicator": it holds a single reconciler and exports no select_reconciler`
	for what, err := range map[string]error{
		"CheckReconciler": m.CheckReconciler(t.Context(), cfg),
		"Instantiate":     func() error { _, err := m.Instantiate(t.Context(), cfg); return err }(),
	} {
		if !errors.Is(err, ErrReconcilerNotFound) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s = %v, want ErrReconcilerNotFound saying %q", what, err, want)
		}
	}
	r.mu.Lock()
	live := m.live
	r.mu.Unlock()
	if live != 0 {
		t.Errorf("%d instances left running", live)
	}
}
