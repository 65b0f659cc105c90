package controllerruntime

import (
	"testing"
)

func TestLogger_NamesAndValues(t *testing.T) {
	logger := NewLogger().WithName("memcached").WithValues("namespace", "default").WithName("deployment")
	s, ok := logger.GetSink().(*sink)
	if !ok {
		t.Fatalf("sink is a %T", logger.GetSink())
	}
	if got, want := s.message("created"), "memcached.deployment: created"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got, want := s.with([]any{"name", "cache"}), []any{"namespace", "default", "name", "cache"}; !equal(got, want) {
		t.Errorf("values = %v, want %v", got, want)
	}
	// A derived logger does not change the one it came from.
	_ = logger.WithValues("extra", 1)
	if got := s.with(nil); len(got) != 2 {
		t.Errorf("values after a derived WithValues = %v", got)
	}
	if !logger.V(1).Enabled() {
		t.Error("V(1) is disabled; the host decides whether debug messages show")
	}
}
