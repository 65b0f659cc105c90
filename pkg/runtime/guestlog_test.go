package runtime_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestInstance_GuestLogs runs the klog test guest and checks what the
// server logs of it: each klog line at its severity with no klog header of
// its own, and the line a goroutine of the guest logs after the reconcile
// handed it the key, within that reconcile.
func TestInstance_GuestLogs(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	logger := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, args)
	}, funcr.Options{Verbosity: 10})

	r := newRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "klog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{
		Name: "test/klog", MemoryLimit: 64 << 20, API: &fakeAPI{}, Logger: logger,
		Env: map[string]string{"CONTROLLER_FLAGS": "-v=2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close(context.Background()) })
	if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "d", Name: "x", Reason: "event"}); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	got := strings.Join(logs, "\n")
	mu.Unlock()
	for _, want := range []struct {
		line  string
		parts []string
	}{
		{line: "info", parts: []string{`"level"=0 "msg"="\"Reconciling\" key=\"d/x\""`, `"guestCaller"="main.go:`}},
		{line: "verbose info, -v=2 from CONTROLLER_FLAGS", parts: []string{`"msg"="\"Reconciling verbosely\" key=\"d/x\""`}},
		{line: "warning", parts: []string{`"level"=0 "msg"="key d/x is a test"`, `"severity"="warning"`}},
		{line: "error", parts: []string{`"msg"="\"Reconcile step failed\" err=\"boom\" key=\"d/x\"" "error"=null`}},
		{line: "the goroutine's, in the reconcile", parts: []string{`"msg"="relayed by a goroutine key=\"d/x\""`}},
	} {
		found := false
		for _, l := range logs {
			ok := true
			for _, p := range want.parts {
				ok = ok && strings.Contains(l, p)
			}
			found = found || ok
		}
		if !found {
			t.Errorf("no %s line with %q in the log:\n%s", want.line, want.parts, got)
		}
	}
	if strings.Contains(got, "] ") {
		t.Errorf("a klog header was logged:\n%s", got)
	}
}
