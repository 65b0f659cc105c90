package runtime_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// misbehave loads the misbehave guest into the shared runtime.
func misbehave(t *testing.T) *runtime.Module {
	t.Helper()
	m, err := sharedRuntime(t).Load(t.Context(), guest(t, "misbehave"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	return m
}

// TestInstance_InitializationIsBounded checks that a guest that never
// finishes initializing is stopped by InitTimeout, though the context of
// Instantiate has no deadline.
func TestInstance_InitializationIsBounded(t *testing.T) {
	m := misbehave(t)
	for _, mode := range []string{"loop", "sleep"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			_, err := m.Instantiate(context.Background(), runtime.InstanceConfig{
				Name: "test/misbehave", MemoryLimit: 64 << 20, InitTimeout: 300 * time.Millisecond,
				Env: map[string]string{"MISBEHAVE_INIT": mode}, Logger: logr.Discard(),
			})
			if !errors.Is(err, runtime.ErrTimeout) {
				t.Fatalf("Instantiate = %v, want ErrTimeout", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("initialization stopped after %v", d)
			}
		})
	}
}

// TestInstance_SleepObeysTheDeadline checks that a guest sleeping (WASI
// poll_oneoff) for an hour returns when the reconcile's deadline passes.
func TestInstance_SleepObeysTheDeadline(t *testing.T) {
	m := misbehave(t)
	inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{
		Name: "test/misbehave", MemoryLimit: 64 << 20,
		Env: map[string]string{"MISBEHAVE_RECONCILE": "sleep"}, Logger: logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := inst.Reconcile(ctx, runtime.Request{Name: "x"})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, runtime.ErrTimeout) {
			t.Fatalf("Reconcile = %v, want ErrTimeout", err)
		}
		t.Logf("a sleeping guest stopped %v after its deadline", time.Since(start)-300*time.Millisecond)
	case <-time.After(30 * time.Second):
		t.Fatal("a guest sleeping for an hour did not return 30s after its deadline")
	}
}

// TestInstance_OutputIsRateLimitedPerController checks that the instances
// of a controller sharing a LogLimiter log no more than it admits, and that
// the limiter counts what it dropped.
func TestInstance_OutputIsRateLimitedPerController(t *testing.T) {
	m := misbehave(t)
	limiter := runtime.NewLogLimiter(1, 10, 1<<20, 1<<20)
	var logs lineCount
	for _, mode := range []string{"stdoutspam", "logspam"} {
		inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{
			Name: "test/misbehave", MemoryLimit: 64 << 20, LogLimiter: limiter,
			Env: map[string]string{"MISBEHAVE_RECONCILE": mode}, Logger: logs.logger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Reconcile(t.Context(), runtime.Request{Name: "x"}); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		inst.Close(t.Context())
	}
	if n := logs.count(); n > 12 {
		t.Errorf("the instances logged %d lines through a limiter with a burst of 10", n)
	}
	lines, bytes := limiter.Dropped()
	if lines < 199_980 || bytes < 4*lines {
		t.Errorf("Dropped() = %d lines, %d bytes; want about 200,000 lines of 4 bytes", lines, bytes)
	}
}

// lineCount counts the entries logged to its logger.
type lineCount struct {
	n atomic.Int64
}

func (c *lineCount) logger() logr.Logger { return logr.New(countSink{n: &c.n}) }

func (c *lineCount) count() int64 { return c.n.Load() }

// countSink is a logr.LogSink that counts entries at every verbosity.
type countSink struct{ n *atomic.Int64 }

func (countSink) Init(logr.RuntimeInfo)            {}
func (countSink) Enabled(int) bool                 { return true }
func (s countSink) Info(int, string, ...any)       { s.n.Add(1) }
func (s countSink) Error(error, string, ...any)    { s.n.Add(1) }
func (s countSink) WithValues(...any) logr.LogSink { return s }
func (s countSink) WithName(string) logr.LogSink   { return s }
