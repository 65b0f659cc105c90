package runtime

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHotRunsOf: the pages a snapshot lists as hot, from each page's
// pagemap entry and the hot runs copied in at the restore.
func TestHotRunsOf(t *testing.T) {
	const (
		absent  = 0
		file    = pagemapPresent | pagemapFile
		copied  = pagemapPresent
		swapped = pagemapSwapped | pagemapPresent
	)
	page := func(p uint64) uint64 { return p * snapshotPage }
	tests := []struct {
		name       string
		entries    []uint64
		prefaulted []hotRun
		want       []hotRun
	}{
		{
			name:    "the pages copied, merged where adjacent",
			entries: []uint64{absent, copied, copied, file, copied, swapped, copied},
			want:    []hotRun{{off: page(1), len: page(2)}, {off: page(4), len: page(1)}, {off: page(6), len: page(1)}},
		},
		{
			name:       "a page copied in at the restore ages; one the guest faulted is young",
			entries:    []uint64{copied, copied, copied, copied},
			prefaulted: []hotRun{{off: page(1), len: page(2), age: 3}},
			want:       []hotRun{{off: 0, len: page(1)}, {off: page(1), len: page(2), age: 4}, {off: page(3), len: page(1)}},
		},
		{
			name:       "at maxHotAge a page is dropped, to fault once and be young again",
			entries:    []uint64{copied, copied, absent},
			prefaulted: []hotRun{{off: 0, len: page(1), age: maxHotAge - 1}, {off: page(1), len: page(2), age: 2}},
			want:       []hotRun{{off: page(1), len: page(1), age: 3}},
		},
		{
			name:       "a page copied in that the guest left is not listed at all",
			entries:    []uint64{file, absent},
			prefaulted: []hotRun{{off: 0, len: page(2)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hotRunsOf(tt.entries, tt.prefaulted)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hotRun{})); diff != "" {
				t.Errorf("hotRunsOf (-want +got):\n%s", diff)
			}
			if err := checkHotRuns(got, page(uint64(len(tt.entries)))); err != nil {
				t.Errorf("hotRunsOf returned runs a reader refuses: %v", err)
			}
		})
	}

	t.Run("at most maxHotPages", func(t *testing.T) {
		entries := make([]uint64, 2*maxHotPages)
		for p := range entries {
			entries[p] = copied
		}
		got := hotRunsOf(entries, nil)
		if want := []hotRun{{off: 0, len: page(maxHotPages)}}; !cmp.Equal(want, got, cmp.AllowUnexported(hotRun{})) {
			t.Errorf("hotRunsOf of %d pages = %+v, want %+v", len(entries), got, want)
		}
	})
}

// TestCheckHotRuns: hot runs a reader refuses.
func TestCheckHotRuns(t *testing.T) {
	const memory = 16 * snapshotPage
	tests := []struct {
		name string
		hot  []hotRun
	}{
		{name: "empty", hot: []hotRun{{off: 0, len: 0}}},
		{name: "outside memory", hot: []hotRun{{off: 15 * snapshotPage, len: 2 * snapshotPage}}},
		{name: "overlapping", hot: []hotRun{{off: 0, len: 2 * snapshotPage}, {off: snapshotPage, len: snapshotPage}}},
		{name: "out of order", hot: []hotRun{{off: 4 * snapshotPage, len: snapshotPage}, {off: 0, len: snapshotPage}}},
		{name: "too old", hot: []hotRun{{off: 0, len: snapshotPage, age: maxHotAge}}},
		{name: "too many pages", hot: []hotRun{{off: 0, len: (maxHotPages + 1) * snapshotPage}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := uint64(memory)
			if tt.name == "too many pages" {
				mem = 2 * maxHotPages * snapshotPage
			}
			if err := checkHotRuns(tt.hot, mem); err == nil {
				t.Errorf("checkHotRuns(%+v) = nil, want an error", tt.hot)
			}
		})
	}
}

// TestStoredOnly: of the pages the guest wrote, a snapshot lists as hot
// those it stores, not those that are zero (holes of the new file) or the
// image's.
func TestStoredOnly(t *testing.T) {
	page := func(p uint64) uint64 { return p * snapshotPage }
	hot := []hotRun{
		{off: 0, len: page(4), age: 1},        // pages 0-3: stored 1-2 only
		{off: page(5), len: page(1)},          // page 5: zero
		{off: page(8), len: page(6), age: 2},  // pages 8-13: stored 9, 11-12
		{off: page(20), len: page(2), age: 7}, // pages 20-21: stored
	}
	extents := []snapshotRun{
		{off: page(1), len: page(2)},
		{off: page(9), len: page(1)},
		{off: page(11), len: page(2)},
		{off: page(16), len: page(1)}, // written in an earlier wake only
		{off: page(19), len: page(4)},
	}
	want := []hotRun{
		{off: page(1), len: page(2), age: 1},
		{off: page(9), len: page(1), age: 2},
		{off: page(11), len: page(2), age: 2},
		{off: page(20), len: page(2), age: 7},
	}
	if diff := cmp.Diff(want, storedOnly(hot, extents), cmp.AllowUnexported(hotRun{})); diff != "" {
		t.Errorf("storedOnly (-want +got):\n%s", diff)
	}
	if got := storedOnly(hot, nil); len(got) != 0 {
		t.Errorf("storedOnly of a snapshot that stores nothing = %+v, want none", got)
	}
}
