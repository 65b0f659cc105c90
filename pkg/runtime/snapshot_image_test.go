package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// newImageRuntime returns a runtime whose snapshots are deltas against
// image files in the directory it returns.
func newImageRuntime(t testing.TB) (*runtime.Runtime, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "images")
	r, err := runtime.New(context.Background(), runtime.SharedCache(runtime.Config{CacheDir: filepath.Join(t.TempDir(), "cache"), ImageDir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, dir
}

// imageFiles returns the paths of the image files in dir.
func imageFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.img"))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// saveEcho runs one reconcile on a fresh echo guest and saves its
// snapshot to path.
func saveEcho(t *testing.T, m *runtime.Module, path string) {
	t.Helper()
	inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "echo", MemoryLimit: 64 << 20, API: &fakeAPI{}, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.SaveSnapshot(path); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
}

// diskBytes returns the disk space the file at path takes.
func diskBytes(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.SnapshotDiskBytes(fi)
}

// A snapshot of a guest that changed little of its memory takes little
// disk: the pages its data segments wrote are in the module's image file,
// written once for every snapshot of the module. (What is left, for the
// echo guest, is the Go runtime's heap and stacks after its init: a fifth
// of its non-zero pages, most of each page zero bytes, which version 1
// compressed; mapped pages cannot be.)
func TestSnapshot_ImageKeepsSnapshotsSmall(t *testing.T) {
	whole := newRuntime(t)
	delta, images := newImageRuntime(t)
	dir := t.TempDir()
	size := map[string]int64{}
	for name, r := range map[string]*runtime.Runtime{"whole": whole, "delta": delta} {
		m, err := r.Load(t.Context(), guest(t, "echo"))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(context.Background())
		path := filepath.Join(dir, name+".snap")
		saveEcho(t, m, path)
		size[name] = diskBytes(t, path)
		saveEcho(t, m, path) // another snapshot of the module shares its image
	}
	paths := imageFiles(t, images)
	if len(paths) != 1 {
		t.Fatalf("image files %q, want one", paths)
	}
	t.Logf("snapshot of every non-zero page: %d bytes on disk; delta against the image: %d; image: %d", size["whole"], size["delta"], diskBytes(t, paths[0]))
	if size["delta"] > size["whole"]/4 {
		t.Errorf("a snapshot against the image takes %d bytes, want at most a quarter of the %d of one of every page", size["delta"], size["whole"])
	}
}

// A snapshot whose image file is missing, damaged, or another module's is
// refused as invalid (to be discarded), never mapped: a short file would
// fault the process.
func TestSnapshot_ImageInvalid(t *testing.T) {
	r, m, images, saved := savedCounter(t)
	dir := filepath.Dir(saved)
	other, err := r.Load(t.Context(), guest(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(context.Background())
	paths := imageFiles(t, images)
	if len(paths) != 1 {
		t.Fatalf("image files %q, want one", paths)
	}
	image := paths[0]
	good, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	saveEcho(t, other, filepath.Join(dir, "other.snap"))
	var otherImage string
	for _, p := range imageFiles(t, images) {
		if p != image {
			otherImage = p
		}
	}
	otherBytes, err := os.ReadFile(otherImage)
	if err != nil {
		t.Fatal(err)
	}
	// replace puts b in place of the image, as a new file.
	replace := func(b []byte) func(*testing.T) {
		return func(t *testing.T) {
			tmp := image + ".new"
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, image); err != nil {
				t.Fatal(err)
			}
		}
	}
	flipped := func(at func(b []byte) int) []byte {
		b := append([]byte(nil), good...)
		b[at(b)] ^= 0x01
		return b
	}
	lastNonZero := func(b []byte) int {
		for k := len(b) - 1; k >= 0; k-- {
			if b[k] != 0 {
				return k
			}
		}
		t.Fatal("an image of zeros")
		return 0
	}
	tests := []struct {
		name    string
		break_  func(*testing.T)
		wantMsg string
	}{
		{name: "missing", break_: func(t *testing.T) { _ = os.Remove(image) }, wantMsg: "no such file"},
		{name: "truncated by a page", break_: replace(good[:len(good)-4096]), wantMsg: "truncated?"},
		{name: "grown by a page", break_: replace(append(append([]byte(nil), good...), make([]byte, 4096)...)), wantMsg: "truncated?"},
		{name: "a page byte flipped", break_: replace(flipped(lastNonZero)), wantMsg: "is not the module's"},
		{name: "a header byte flipped", break_: replace(flipped(func([]byte) int { return 20 })), wantMsg: "another module"},
		{name: "another module's", break_: replace(otherBytes), wantMsg: "another module"},
	}
	for _, tt := range tests {
		for _, mapLimit := range []int{0, -1} { // mapped, and read
			t.Run(tt.name, func(t *testing.T) {
				r.SetSnapshotMapLimit(mapLimit)
				defer r.SetSnapshotMapLimit(0)
				tt.break_(t)
				defer replace(good)(t)
				inst, err := m.RestoreFile(t.Context(), counterConfig, saved)
				if !errors.Is(err, runtime.ErrSnapshotInvalid) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("RestoreFile error = %v, want ErrSnapshotInvalid with %q", err, tt.wantMsg)
				}
				if inst != nil {
					t.Errorf("RestoreFile returned an instance with its error")
				}
			})
		}
	}
	// Put back, the image serves again; a damaged one is written anew by
	// the next snapshot.
	replace(flipped(lastNonZero))(t)
	saveCounter(t, m, saved, 3)
	inst, err := m.RestoreFile(t.Context(), counterConfig, saved)
	if err != nil {
		t.Fatalf("RestoreFile after the image was written again: %v", err)
	}
	defer inst.Close(context.Background())
	if c, _ := report(t, inst, "report"); c != 4 {
		t.Errorf("count after restore = %d, want 4", c)
	}
}

// The image files of modules that are released, and that no snapshot
// refers to, are removed; those of loaded modules, or referred to, stay.
func TestSnapshot_RemoveUnusedImages(t *testing.T) {
	r, images := newImageRuntime(t)
	dir := t.TempDir()
	counter, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Release(context.Background())
	echo, err := r.Load(t.Context(), guest(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	saveCounter(t, counter, filepath.Join(dir, "counter.snap"), 1)
	echoSnap := filepath.Join(dir, "echo.snap")
	saveEcho(t, echo, echoSnap)
	if got, err := runtime.SnapshotModule(echoSnap); err != nil || got != echo.Digest {
		t.Fatalf("SnapshotModule = %q, %v; want %q", got, err, echo.Digest)
	}
	echo.Release(context.Background())
	if paths := imageFiles(t, images); len(paths) != 2 {
		t.Fatalf("image files %q, want two", paths)
	}
	// An interrupted write of an image file leaves a temporary file.
	tmp := filepath.Join(images, "."+strings.TrimPrefix(echo.Digest, "sha256:")+"-00.img.123.tmp")
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	if n := r.RemoveUnusedImages(map[string]bool{echo.Digest: true}); n != 0 {
		t.Errorf("RemoveUnusedImages removed %d files of a module a snapshot refers to", n)
	}
	if n := r.RemoveUnusedImages(nil); n != 2 {
		t.Errorf("RemoveUnusedImages removed %d files, want 2 (the released module's image and temporary file)", n)
	}
	paths := imageFiles(t, images)
	if len(paths) != 1 || !strings.Contains(paths[0], strings.TrimPrefix(counter.Digest, "sha256:")) {
		t.Errorf("image files left %q, want the loaded module's only", paths)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
}
