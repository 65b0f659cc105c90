package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestBundle_SelectsReconciler: each instance of a bundle runs the reconciler
// its config names, and a name the module does not hold fails the instance
// with ErrReconcilerNotFound and the guest's reason, not a reconcile later.
func TestBundle_SelectsReconciler(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		name       string
		guest      string
		reconciler string
		wantPath   string
		wantErr    string
	}{
		{name: "configmaps", guest: "bundle", reconciler: "configmaps", wantPath: "/api/v1/namespaces/default/configmaps/x"},
		{name: "secrets", guest: "bundle", reconciler: "secrets", wantPath: "/api/v1/namespaces/default/secrets/x"},
		{name: "unknown name", guest: "bundle", reconciler: "pods",
			wantErr: `the module cannot run reconciler "pods": the module has no reconciler named "pods"; it has: configmaps, secrets`},
		{name: "no default", guest: "bundle",
			wantErr: "the module cannot run the default reconciler: the module has no default reconciler; select one of its reconcilers (configmaps, secrets) with spec.module.reconciler"},
		{name: "single reconciler, default", guest: "echo", wantPath: "/api/v1/namespaces/default/configmaps/x"},
		{name: "single reconciler, a name", guest: "echo", reconciler: "configmaps",
			wantErr: `the module cannot run reconciler "configmaps": the module has no reconciler named "configmaps"; it has: the default`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Load(t.Context(), guest(t, tt.guest))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release(context.Background())
			if !m.Bundle() {
				t.Fatalf("module %s built with the SDK does not export select_reconciler", tt.guest)
			}
			api := &fakeAPI{}
			cfg := runtime.InstanceConfig{Name: "test/" + tt.name, MemoryLimit: 64 << 20, API: api, Reconciler: tt.reconciler}
			checked := m.CheckReconciler(t.Context(), cfg)
			inst, err := m.Instantiate(t.Context(), cfg)
			if tt.wantErr != "" {
				for what, err := range map[string]error{"Instantiate": err, "CheckReconciler": checked} {
					if !errors.Is(err, runtime.ErrReconcilerNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("%s = %v, want ErrReconcilerNotFound saying %q", what, err, tt.wantErr)
					}
				}
				if again := m.CheckReconciler(t.Context(), cfg); again == nil || again.Error() != checked.Error() {
					t.Errorf("CheckReconciler again = %v, want %v", again, checked)
				}
				return
			}
			if err != nil || checked != nil {
				t.Fatalf("Instantiate = %v, CheckReconciler = %v", err, checked)
			}
			defer inst.Close(context.Background())
			if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "x", Reason: "event"}); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if len(api.requests) != 1 || api.requests[0].Path != tt.wantPath {
				t.Errorf("API requests = %+v, want one GET of %s", api.requests, tt.wantPath)
			}
		})
	}
}

// TestBundle_SharesOneModule: controllers running different reconcilers of
// one bundle load it once: one Module, compiled once, with instances of
// each reconciler side by side.
func TestBundle_SharesOneModule(t *testing.T) {
	r := newRuntime(t)
	wasm := guest(t, "bundle")
	var insts []*runtime.Instance
	var apis []*fakeAPI
	var first *runtime.Module
	var oneModule int64
	for i, name := range []string{"configmaps", "secrets", "configmaps", "secrets"} {
		m, err := r.Load(t.Context(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(context.Background())
		if first == nil {
			first, oneModule = m, r.CompiledBytes()
		} else if m != first {
			t.Errorf("controller %d got a module of its own", i)
		}
		api := &fakeAPI{}
		inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "test/" + name, MemoryLimit: 64 << 20, API: api, Reconciler: name})
		if err != nil {
			t.Fatalf("controller %d: %v", i, err)
		}
		defer inst.Close(context.Background())
		insts, apis = append(insts, inst), append(apis, api)
	}
	if n := r.LoadedModules(); n != 1 {
		t.Errorf("LoadedModules = %d, want the bundle once", n)
	}
	if got := r.CompiledBytes(); got != oneModule || got == 0 {
		t.Errorf("CompiledBytes = %d, want one module's %d", got, oneModule)
	}
	for i, inst := range insts {
		if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "x"}); err != nil {
			t.Fatal(err)
		}
		want := []string{"configmaps", "secrets"}[i%2]
		if len(apis[i].requests) != 1 || !strings.Contains(apis[i].requests[0].Path, "/"+want+"/") {
			t.Errorf("controller %d (%s) requested %+v", i, want, apis[i].requests)
		}
	}
}

// TestBundle_SnapshotKeepsItsReconciler: a snapshot resumes only as the
// reconciler it was taken of; resumed as another reconciler of the bundle,
// it is refused rather than run as the wrong one.
func TestBundle_SnapshotKeepsItsReconciler(t *testing.T) {
	r := newRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	cfg := runtime.InstanceConfig{Name: "test/snap", MemoryLimit: 64 << 20, API: &fakeAPI{}, Reconciler: "configmaps"}
	inst, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := inst.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	inst.Close(t.Context())

	other := cfg
	other.Reconciler = "secrets"
	if inst, err := m.Restore(t.Context(), other, bytes.NewReader(snap.Bytes())); !errors.Is(err, runtime.ErrReconcilerNotFound) {
		if inst != nil {
			inst.Close(t.Context())
		}
		t.Fatalf("Restore as secrets = %v, want ErrReconcilerNotFound", err)
	} else if !strings.Contains(err.Error(), `already runs reconciler "configmaps"`) {
		t.Errorf("Restore as secrets = %v", err)
	}
	api := &fakeAPI{}
	cfg.API = api
	inst, err = m.Restore(t.Context(), cfg, bytes.NewReader(snap.Bytes()))
	if err != nil {
		t.Fatalf("Restore as configmaps: %v", err)
	}
	defer inst.Close(t.Context())
	if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "y"}); err != nil {
		t.Fatal(err)
	}
	if len(api.requests) != 1 || api.requests[0].Path != "/api/v1/namespaces/default/configmaps/y" {
		t.Errorf("restored instance requested %+v", api.requests)
	}
}

// TestBundle_TemplateKeepsReconciler: an instance started from the
// initialized memory of an earlier one (template.go) runs the reconciler
// its own config selects, not the one the template's instance had
// selected, though name and environment are the same.
func TestBundle_TemplateKeepsReconciler(t *testing.T) {
	r := newTemplateRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	for _, tt := range []struct{ reconciler, wantPath string }{
		{reconciler: "configmaps", wantPath: "/api/v1/namespaces/default/configmaps/x"},
		{reconciler: "secrets", wantPath: "/api/v1/namespaces/default/secrets/x"},
		{reconciler: "configmaps", wantPath: "/api/v1/namespaces/default/configmaps/x"},
	} {
		api := &fakeAPI{}
		inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "test/same", MemoryLimit: 64 << 20, API: api, Reconciler: tt.reconciler})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "x", Reason: "event"}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		inst.Close(context.Background())
		if len(api.requests) != 1 || api.requests[0].Path != tt.wantPath {
			t.Errorf("reconciler %s: API requests = %+v, want one GET of %s", tt.reconciler, api.requests, tt.wantPath)
		}
	}
	if r.TemplateBytes() == 0 {
		t.Error("no template was kept: the reconciler's selection from a template went untested")
	}
}
