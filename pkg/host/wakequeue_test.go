package host

import (
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// TestWakeQueue: a key woken twice before it runs is queued once, with
// the reason of its last wake; a key whose wake said no reason runs as an
// event; a key woken while it runs is queued again when done; a turn
// counts from startTurn to endTurn; a failing key backs off more each time
// until it succeeds.
func TestWakeQueue(t *testing.T) {
	q := newWakeQueue(1)
	a, b := wakeKey{"ns", "a"}, wakeKey{"ns", "b"}
	q.add(a, abi.ReasonEvent)
	q.add(a, abi.ReasonResync)
	if n := q.len(); n != 1 {
		t.Fatalf("len = %d after waking one key twice, want 1", n)
	}
	key, ok := q.get()
	if !ok || key != a {
		t.Fatalf("get = %v, %v; want %v", key, ok, a)
	}
	if r := q.reason(a); r != abi.ReasonResync {
		t.Errorf("reason = %q, want the last wake's %q", r, abi.ReasonResync)
	}
	if r := q.reason(a); r != abi.ReasonEvent {
		t.Errorf("reason taken twice = %q, want %q", r, abi.ReasonEvent)
	}
	q.startTurn()
	q.add(a, abi.ReasonRequeue) // while it runs
	q.done(a)
	if n := q.len(); n != 1 {
		t.Errorf("len = %d after a key woken while it ran is done, want 1", n)
	}
	if waitAll(10*time.Millisecond, &q.turns) {
		t.Error("a turn not ended does not count: stop would not wait for it")
	}
	q.endTurn()
	if !waitAll(time.Second, &q.turns) {
		t.Error("a turn ended still counts")
	}

	first, second := q.failed(b), q.failed(b)
	if second <= first {
		t.Errorf("backoff %v then %v, want it to grow", first, second)
	}
	q.succeeded(b)
	if again := q.failed(b); again != first {
		t.Errorf("backoff after a success = %v, want %v again", again, first)
	}
	q.shutDown()
}
