package runtime_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// counterConfig is the configuration of counter guests in tests.
var counterConfig = runtime.InstanceConfig{Name: "test/counter", MemoryLimit: 64 << 20, Logger: discard}

// report returns what the counter guest reports for key ("report" or
// "clock"): its count, and for "clock" the nanoseconds since it started.
func report(t *testing.T, inst *runtime.Instance, key string) (count, since int64) {
	t.Helper()
	_, err := inst.Reconcile(t.Context(), runtime.Request{Name: key})
	var ge *runtime.GuestError
	if !errors.As(err, &ge) {
		t.Fatalf("Reconcile(%s) = %v, want the guest's report", key, err)
	}
	for _, f := range strings.Fields(ge.Message) {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("report %q: %v", ge.Message, err)
		}
		switch k {
		case "count":
			count = n
		case "since":
			since = n
		}
	}
	return count, since
}

func reconcileN(t *testing.T, inst *runtime.Instance, key string, n int) {
	t.Helper()
	for range n {
		if _, err := inst.Reconcile(t.Context(), runtime.Request{Name: key}); err != nil {
			t.Fatalf("Reconcile(%s): %v", key, err)
		}
	}
}

// snapshotOf runs three reconciles on a fresh counter guest and returns a
// snapshot of it, and the guest's clock reading just before.
func snapshotOf(t *testing.T, m *runtime.Module) ([]byte, int64) {
	t.Helper()
	inst, err := m.Instantiate(t.Context(), counterConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	reconcileN(t, inst, "x", 2)
	_, since := report(t, inst, "clock") // count 3
	var buf bytes.Buffer
	n, err := inst.WriteSnapshot(&buf)
	if err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteSnapshot returned %d, wrote %d bytes", n, buf.Len())
	}
	// The instance stays usable after a snapshot.
	if c, _ := report(t, inst, "report"); c != 4 {
		t.Errorf("count after snapshot = %d, want 4", c)
	}
	return buf.Bytes(), since
}

func TestSnapshot_RestoreKeepsState(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "cache")
	r1, err := runtime.New(t.Context(), runtime.SharedCache(runtime.Config{CacheDir: cacheDir}))
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close(context.Background())
	wasm := guest(t, "counter")
	m1, err := r1.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Release(context.Background())
	snap, since := snapshotOf(t, m1)
	t.Logf("snapshot: %d bytes", len(snap))

	tests := []struct {
		name   string
		module func(t *testing.T) *runtime.Module
	}{
		{name: "same runtime", module: func(*testing.T) *runtime.Module { return m1 }},
		{name: "new runtime, same cache dir", module: func(t *testing.T) *runtime.Module {
			// A restarted process: a new runtime loads the module again.
			r2, err := runtime.New(t.Context(), runtime.SharedCache(runtime.Config{CacheDir: cacheDir}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r2.Close(context.Background()) })
			m2, err := r2.Load(t.Context(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m2.Release(context.Background()) })
			return m2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := tt.module(t).Restore(t.Context(), counterConfig, bytes.NewReader(snap))
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			defer inst.Close(context.Background())
			if inst.MemoryBytes() == 0 {
				t.Errorf("MemoryBytes = 0 after Restore")
			}
			count, sinceNow := report(t, inst, "clock")
			if count != 4 {
				t.Errorf("count after restore = %d, want 4 (3 before the snapshot)", count)
			}
			if sinceNow < since {
				t.Errorf("guest clock went back: %d ns since start before the snapshot, %d after restore", since, sinceNow)
			}
			// The Go runtime inside is consistent: allocation, GC and more
			// reconciles work, and a snapshot of the restored guest restores.
			reconcileN(t, inst, "churn", 3)
			if c, _ := report(t, inst, "report"); c != 8 {
				t.Errorf("count after churn = %d, want 8", c)
			}
			var again bytes.Buffer
			if _, err := inst.WriteSnapshot(&again); err != nil {
				t.Fatal(err)
			}
			inst2, err := tt.module(t).Restore(t.Context(), counterConfig, &again)
			if err != nil {
				t.Fatalf("Restore of a restored guest's snapshot: %v", err)
			}
			defer inst2.Close(context.Background())
			if c, _ := report(t, inst2, "report"); c != 9 {
				t.Errorf("count after a second restore = %d, want 9", c)
			}
		})
	}
}

func TestSnapshot_Invalid(t *testing.T) {
	r := newRuntime(t)
	wasm := guest(t, "counter")
	m, err := r.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	other, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(context.Background())
	snap, _ := snapshotOf(t, m)

	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(snap)) }
	tests := []struct {
		name    string
		module  *runtime.Module
		limit   uint64
		data    []byte
		wantMsg string
	}{
		{name: "empty", data: nil, wantMsg: "not a snapshot"},
		{name: "not a snapshot", data: wasm[:4096], wantMsg: "not a snapshot"},
		{name: "a byte flipped", data: mutate(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }), wantMsg: "checksum mismatch"},
		{name: "truncated", data: snap[:len(snap)*2/3], wantMsg: "checksum mismatch"},
		{name: "checksum cut off", data: snap[:len(snap)-1], wantMsg: "checksum mismatch"},
		{name: "another format version", data: mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 5); return b }), wantMsg: "format version 5"},
		{name: "format version 2 (never released)", data: mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }), wantMsg: "format version 2"},
		{name: "another module", module: other, data: snap, wantMsg: "taken of module"},
		{name: "memory over the limit", limit: 1 << 20, data: snap, wantMsg: "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod, cfg := m, counterConfig
			if tt.module != nil {
				mod = tt.module
			}
			if tt.limit != 0 {
				cfg.MemoryLimit = tt.limit
			}
			inst, err := mod.Restore(t.Context(), cfg, bytes.NewReader(tt.data))
			if !errors.Is(err, runtime.ErrSnapshotInvalid) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Restore error = %v, want ErrSnapshotInvalid with %q", err, tt.wantMsg)
			}
			if inst != nil {
				t.Errorf("Restore returned an instance with its error")
			}
			// Falling back to a fresh instance works.
			fresh, err := mod.Instantiate(t.Context(), counterConfig)
			if err != nil {
				t.Fatalf("Instantiate after a refused snapshot: %v", err)
			}
			defer fresh.Close(context.Background())
			if c, _ := report(t, fresh, "report"); c != 1 {
				t.Errorf("fresh count = %d, want 1", c)
			}
		})
	}
}

func TestSnapshot_Files(t *testing.T) {
	r := newRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	inst, err := m.Instantiate(t.Context(), counterConfig)
	if err != nil {
		t.Fatal(err)
	}
	reconcileN(t, inst, "x", 5)
	dir := t.TempDir()
	path := filepath.Join(dir, "guest.snapshot")
	n, err := inst.SaveSnapshot(path)
	if err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	inst.Close(t.Context())
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.SnapshotDiskBytes(fi) != n || fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot file: %d bytes on disk, mode %v, want %d bytes, mode 0600", runtime.SnapshotDiskBytes(fi), fi.Mode().Perm(), n)
	}
	t.Logf("snapshot file: %d bytes, %d on disk", fi.Size(), n)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("snapshot dir holds %d entries, want only the snapshot", len(entries))
	}
	if _, err := inst.SaveSnapshot(path); !errors.Is(err, runtime.ErrClosed) {
		t.Errorf("SaveSnapshot of a closed instance = %v, want ErrClosed", err)
	}

	restored, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatalf("RestoreFile: %v", err)
	}
	defer restored.Close(context.Background())
	if c, _ := report(t, restored, "report"); c != 6 {
		t.Errorf("count after RestoreFile = %d, want 6", c)
	}

	_, err = m.RestoreFile(t.Context(), counterConfig, filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, runtime.ErrSnapshotInvalid) {
		t.Errorf("RestoreFile of a missing file = %v, want os.ErrNotExist only", err)
	}
}

// budgetRuntime returns a runtime whose compiled-code budget holds one
// counter module and a half, the counter guest, and the estimated compiled
// size of one copy of it. Its compiled code stays in anonymous memory, so
// that the budget makes room by closing modules (TestCodeDrop covers the
// code it drops instead where it can).
func budgetRuntime(t *testing.T) (*runtime.Runtime, []byte, int64) {
	t.Helper()
	return budgetRuntimeOf(t, "counter")
}

// budgetRuntimeOf is budgetRuntime for the guest name.
func budgetRuntimeOf(t *testing.T, name string) (*runtime.Runtime, []byte, int64) {
	t.Helper()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	wasm := guest(t, name)
	scratch, err := runtime.New(t.Context(), runtime.SharedCache(runtime.Config{CacheDir: cacheDir}))
	if err != nil {
		t.Fatal(err)
	}
	m, err := scratch.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	cost := scratch.CompiledBytes()
	m.Release(context.Background())
	_ = scratch.Close(context.Background())
	r, err := runtime.New(t.Context(), runtime.WithoutCodeFiles(runtime.SharedCache(runtime.Config{CacheDir: cacheDir, CompiledBudgetBytes: cost * 3 / 2})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, wasm, cost
}

// TestSnapshot_Concurrent snapshots, restores, reconciles, loads, releases
// and evicts from many goroutines at once, for the race detector, with a
// compiled-code budget that holds one of the two modules.
func TestSnapshot_Concurrent(t *testing.T) {
	r, wasm, _ := budgetRuntime(t)
	var mods []*runtime.Module
	var snaps [][]byte
	for i := range 2 {
		m, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(context.Background())
		mods = append(mods, m)
		snap, _ := snapshotOf(t, m)
		snaps = append(snaps, snap)
	}

	const rounds = 3
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for w := range 4 {
		m, snap := mods[w%2], snaps[w%2]
		wg.Go(func() {
			for range rounds {
				if err := restoreRound(t.Context(), m, snap); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Reconciles and snapshots of one instance at once.
	shared, err := mods[0].Instantiate(t.Context(), counterConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close(context.Background())
	wg.Go(func() {
		for range 2 * rounds {
			if _, err := shared.Reconcile(t.Context(), runtime.Request{Name: "x"}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range rounds {
			if _, err := shared.WriteSnapshot(io.Discard); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range 2 * rounds {
			for _, m := range mods {
				if err := m.Warm(t.Context()); err != nil {
					errs <- err
					return
				}
				_ = m.Resident()
			}
			_ = r.CompiledBytes()
			_ = shared.MemoryBytes()
		}
	})
	// Loads and releases: of a loaded module (a shared reference), and of
	// another module released while its instance still runs.
	wg.Go(func() {
		for i := range rounds {
			again, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(0)))
			if err != nil {
				errs <- err
				return
			}
			again.Release(t.Context())
			other, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(2+i%2)))
			if err != nil {
				errs <- err
				return
			}
			inst, err := other.Instantiate(t.Context(), counterConfig)
			if err != nil {
				errs <- err
				return
			}
			other.Release(t.Context())
			if _, err := inst.Reconcile(t.Context(), runtime.Request{Name: "x"}); err != nil {
				errs <- fmt.Errorf("reconcile after its module's release: %w", err)
			}
			inst.Close(t.Context())
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// restoreRound restores a counter guest, checks its count, snapshots it
// and closes it.
func restoreRound(ctx context.Context, m *runtime.Module, snap []byte) error {
	inst, err := m.Restore(ctx, counterConfig, bytes.NewReader(snap))
	if err != nil {
		return fmt.Errorf("Restore: %w", err)
	}
	defer inst.Close(context.Background())
	_, err = inst.Reconcile(ctx, runtime.Request{Name: "report"})
	if err == nil || err.Error() != "count=4" {
		return fmt.Errorf("count after restore: %v, want count=4", err)
	}
	_, err = inst.WriteSnapshot(io.Discard)
	return err
}

// TestSnapshot_ClockContinues: a restored guest's monotonic clock goes on
// from the snapshot's reading by the wall time since the snapshot was
// taken, as if the guest had been running, and never goes back.
func TestSnapshot_ClockContinues(t *testing.T) {
	r := newRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	snap, since := snapshotOf(t, m)

	// The header's walltime field follows the magic, the version, the
	// digest and the monotonic reading; the file ends in a SHA-256 of the
	// rest.
	walltimeAt := 8 + 4 + 2 + len(m.Digest) + 8
	withWalltime := func(shift time.Duration) []byte {
		b := bytes.Clone(snap)
		wall := int64(binary.LittleEndian.Uint64(b[walltimeAt:]))
		binary.LittleEndian.PutUint64(b[walltimeAt:], uint64(wall+int64(shift)))
		sum := sha256.Sum256(b[:len(b)-sha256.Size])
		copy(b[len(b)-sha256.Size:], sum[:])
		return b
	}
	tests := []struct {
		name     string
		shift    time.Duration
		atLeast  time.Duration
		lessThan time.Duration
	}{
		{name: "taken an hour ago", shift: -time.Hour, atLeast: time.Hour, lessThan: time.Hour + time.Minute},
		{name: "taken in the future (wall clock went back)", shift: time.Hour, atLeast: 0, lessThan: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := m.Restore(t.Context(), counterConfig, bytes.NewReader(withWalltime(tt.shift)))
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(context.Background())
			_, now := report(t, inst, "clock")
			if d := time.Duration(now - since); d < tt.atLeast || d >= tt.lessThan {
				t.Errorf("guest clock advanced %v across the restore, want in [%v, %v)", d, tt.atLeast, tt.lessThan)
			}
		})
	}
}
