package runtime

import (
	"crypto/sha256"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHintsOf: what each page is known to hold, from its pagemap entry
// and the runs mapped over the memory at restore.
func TestHintsOf(t *testing.T) {
	const (
		absent  = 0
		file    = pagemapPresent | pagemapFile
		copied  = pagemapPresent // the guest's own copy, or anonymous memory it wrote
		swapped = pagemapSwapped
	)
	runs := []snapshotRun{
		{off: 0, len: 2 * snapshotPage},                             // stored
		{off: 3 * snapshotPage, len: 3 * snapshotPage, image: true}, // image, zero in its middle page
	}
	img := &memoryImage{chunks: make([][sha256.Size]byte, 6)}
	img.chunks[3][0], img.chunks[5][0] = 1, 1
	entries := []uint64{
		absent,  // 0: stored run, never touched
		file,    // 1: stored run, read
		absent,  // 2: anonymous, never written
		copied,  // 3: image run, written
		absent,  // 4: image run, where the image is zero
		file,    // 5: image run, read
		copied,  // 6: anonymous, written
		swapped, // 7: anonymous, swapped out
	}
	tests := []struct {
		name string
		img  *memoryImage
		want []pageHint
	}{
		{name: "with the image", img: img,
			want: []pageHint{hintStored, hintStored, hintZero, hintNone, hintZero, hintImage, hintNone, hintNone}},
		{name: "the new snapshot stores the image's pages", img: nil,
			want: []pageHint{hintStored, hintStored, hintZero, hintNone, hintStored, hintStored, hintNone, hintNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, hintsOf(entries, runs, tt.img)); diff != "" {
				t.Errorf("hintsOf (-want +got):\n%s", diff)
			}
		})
	}
}
