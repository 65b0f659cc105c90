package sharding

import (
	"fmt"
	"testing"
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tenant-%d/controller-%d", i%37, i)
	}
	return out
}

func TestOwner_Balance(t *testing.T) {
	tests := []struct {
		name    string
		keys    int
		members []string
	}{
		{name: "three pods", keys: 1000, members: []string{"wasm-apiserver-0", "wasm-apiserver-1", "wasm-apiserver-2"}},
		{name: "three random names", keys: 1000, members: []string{"wasm-apiserver-7d9f8-x2k4q", "wasm-apiserver-7d9f8-b8z7m", "wasm-apiserver-7d9f8-qq51c"}},
		{name: "five pods", keys: 10000, members: []string{"a", "b", "c", "d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.keys
			count := map[string]int{}
			for _, k := range keys(n) {
				count[Owner(tt.members, k)]++
			}
			want := float64(n) / float64(len(tt.members))
			for _, m := range tt.members {
				if got := float64(count[m]); got < 0.9*want || got > 1.1*want {
					t.Errorf("member %q owns %v of %d keys, want %v ±10%%", m, got, n, want)
				}
			}
		})
	}
}

func TestOwner_OrderDoesNotMatter(t *testing.T) {
	a := []string{"r0", "r1", "r2", "r3"}
	b := []string{"r3", "r1", "r0", "r2"}
	for _, k := range keys(500) {
		if Owner(a, k) != Owner(b, k) {
			t.Fatalf("key %q: owner depends on the order of members", k)
		}
	}
	if got := Owner(nil, "ns/name"); got != "" {
		t.Errorf("Owner(no members) = %q, want \"\"", got)
	}
}

func TestOwner_Stability(t *testing.T) {
	all := []string{"r0", "r1", "r2", "r3"}
	ks := keys(1000)
	tests := []struct {
		name          string
		before, after []string
		// moved reports whether a key may move from its old owner to its new one.
		moved func(from, to string) bool
		// wantShare is the expected fraction of keys that move, ±30% of it.
		wantShare float64
	}{
		{
			name: "leave", before: all, after: []string{"r0", "r1", "r3"},
			moved:     func(from, _ string) bool { return from == "r2" },
			wantShare: 1.0 / 4,
		},
		{
			name: "join", before: []string{"r0", "r1", "r2"}, after: all,
			moved:     func(_, to string) bool { return to == "r3" },
			wantShare: 1.0 / 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moves := 0
			for _, k := range ks {
				from, to := Owner(tt.before, k), Owner(tt.after, k)
				if from == to {
					continue
				}
				moves++
				if !tt.moved(from, to) {
					t.Errorf("key %q moved from %q to %q", k, from, to)
				}
			}
			want := tt.wantShare * float64(len(ks))
			if got := float64(moves); got < 0.7*want || got > 1.3*want {
				t.Errorf("%v keys moved, want about %v", moves, want)
			}
		})
	}
}

func BenchmarkOwner(b *testing.B) {
	members := []string{"wasm-apiserver-0", "wasm-apiserver-1", "wasm-apiserver-2"}
	for i := 0; b.Loop(); i++ {
		Owner(members, "tenant/controller")
	}
}
