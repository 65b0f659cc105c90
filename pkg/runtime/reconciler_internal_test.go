package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
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

// TestABI_SelectReconciler: during select_reconciler a guest reads the
// selection with input_read and may explain a refusal with result_write,
// but may make no API request (the host has not served it anything yet);
// the refusal comes back as a ReconcilerError with the guest's reason.
func TestABI_SelectReconciler(t *testing.T) {
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	driver := driverModule()
	// The driver's step runner is also its select_reconciler: with its
	// memory still zero at instantiation, it selects without a word.
	driver.exports = append(driver.exports, testExport{name: "select_reconciler", index: uint32(len(driverImports)) + 1})
	m, err := r.Load(t.Context(), driver.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	if !m.Bundle() {
		t.Fatal("a module exporting select_reconciler is not taken for a bundle")
	}
	api := &countingAPI{}
	inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: "test/driver", MemoryLimit: 1 << 20, API: api, Reconciler: "replicator"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())

	const selection = `{"reconciler":"replicator"}`
	envelope := `{"method":"GET","path":"/api/v1/namespaces/ns/configmaps/x"}`
	result := `{"error":"no replicator here"}`
	mem := inst.module.Memory()
	mem.Write(dataAt, []byte(envelope))
	mem.Write(dataAt+1024, []byte(result))
	writeSteps(inst, []step{
		{op: opInputRead, a: outAt, b: 4096},
		{op: opAPIRequest, a: dataAt, b: uint32(len(envelope)), c: outAt + 1024},
		{op: opEnd, a: 0},
	})
	if err := inst.selectReconciler(t.Context()); err != nil {
		t.Fatalf("selectReconciler = %v", err)
	}
	got, _ := mem.Read(outAt, uint32(len(selection)))
	if string(got) != selection {
		t.Errorf("input_read copied %q, want %q", got, selection)
	}
	if n, _ := mem.ReadUint32Le(0*stepBytes + 16); n != uint32(len(selection)) {
		t.Errorf("input_read = %d, want %d", n, len(selection))
	}
	if errno, _ := mem.ReadUint32Le(1*stepBytes + 16); errno != uint32(abi.EINVAL) {
		t.Errorf("api_request during select_reconciler = %d, want EINVAL", errno)
	}
	if api.calls.Load() != 0 {
		t.Errorf("%d API requests served during select_reconciler", api.calls.Load())
	}

	// Refused, with the guest's reason; the instance is closed.
	writeSteps(inst, []step{
		{op: opResultWrite, a: dataAt + 1024, b: uint32(len(result))},
		{op: opEnd, a: 1},
	})
	err = inst.selectReconciler(t.Context())
	var rerr *ReconcilerError
	if !errors.As(err, &rerr) || rerr.Name != "replicator" || rerr.Reason != "no replicator here" {
		t.Errorf("selectReconciler = %v, want the guest's refusal", err)
	}
	if !inst.Closed() {
		t.Error("an instance that refused its reconciler is still open")
	}
}

// writeSteps writes the driver's steps at address 0.
func writeSteps(i *Instance, steps []step) {
	i.module.Memory().Write(0, encodeSteps(steps))
}

// encodeSteps returns the driver's steps as they are laid out in memory.
func encodeSteps(steps []step) []byte {
	b := make([]byte, len(steps)*stepBytes)
	for k, s := range steps {
		for j, v := range []uint32{s.op, s.a, s.b, s.c} {
			binary.LittleEndian.PutUint32(b[k*stepBytes+4*j:], v)
		}
	}
	return b
}

// TestCheckReconciler_Refusal: a bundle's refusal of a reconciler is not
// kept by the module (it is asked again), and the guest's reason is cut to
// maxReasonBytes on a UTF-8 boundary however long it writes it.
func TestCheckReconciler_Refusal(t *testing.T) {
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	// The step runner is select_reconciler: it writes a long reason and
	// refuses, whatever the name.
	result := `{"error":"x` + strings.Repeat("é", 4000) + `"}`
	driver := driverModule()
	driver.exports = append(driver.exports, testExport{name: "select_reconciler", index: uint32(len(driverImports)) + 1})
	driver.data = []testData{
		{offset: 0, bytes: encodeSteps([]step{
			{op: opResultWrite, a: dataAt, b: uint32(len(result))},
			{op: opEnd, a: 1},
		})},
		{offset: dataAt, bytes: []byte(result)},
	}
	m, err := r.Load(t.Context(), driver.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	cfg := InstanceConfig{Name: "test/driver", MemoryLimit: 1 << 20, Reconciler: "replicator"}
	for range 2 {
		err := m.CheckReconciler(t.Context(), cfg)
		var rerr *ReconcilerError
		if !errors.As(err, &rerr) {
			t.Fatalf("CheckReconciler = %v, want a ReconcilerError", err)
		}
		if len(rerr.Reason) > maxReasonBytes || !utf8.ValidString(rerr.Reason) || !strings.HasPrefix(rerr.Reason, "xé") {
			t.Errorf("reason of %d bytes (valid UTF-8: %t), want a valid prefix of the guest's of at most %d",
				len(rerr.Reason), utf8.ValidString(rerr.Reason), maxReasonBytes)
		}
	}
	r.mu.Lock()
	kept := len(m.reconcilers)
	r.mu.Unlock()
	if kept != 0 {
		t.Errorf("the module keeps %d answers after refusals, want none", kept)
	}
}

// countingAPI counts the requests it serves and answers each with a 200.
type countingAPI struct{ calls atomic.Int64 }

func (a *countingAPI) ServeAPI(context.Context, *APIRequest) *APIResponse {
	a.calls.Add(1)
	return &APIResponse{Status: 200}
}

// TestCheckReconciler_KeptNamesBounded: a guest that holds whatever name it
// is asked for cannot make its module keep more than maxKeptReconcilers
// names, however many a tenant tries.
func TestCheckReconciler_KeptNamesBounded(t *testing.T) {
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	// The step runner is select_reconciler: it says yes to every name.
	driver := driverModule()
	driver.exports = append(driver.exports, testExport{name: "select_reconciler", index: uint32(len(driverImports)) + 1})
	driver.data = []testData{{offset: 0, bytes: encodeSteps([]step{{op: opEnd, a: 0}})}}
	m, err := r.Load(t.Context(), driver.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	for i := range maxKeptReconcilers + 20 {
		cfg := InstanceConfig{Name: "test/driver", MemoryLimit: 1 << 20, Reconciler: fmt.Sprintf("name-%d", i)}
		if err := m.CheckReconciler(t.Context(), cfg); err != nil {
			t.Fatalf("CheckReconciler(%s) = %v", cfg.Reconciler, err)
		}
	}
	r.mu.Lock()
	kept := len(m.reconcilers)
	r.mu.Unlock()
	if kept > maxKeptReconcilers {
		t.Errorf("the module keeps %d names, want at most %d", kept, maxKeptReconcilers)
	}
}
