package runtime

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
)

// NewUninterruptible is New without interrupting guests when their context
// is done: unsafe, for benchmarks that measure what interruption costs.
func NewUninterruptible(ctx context.Context, cfg Config) (*Runtime, error) {
	return newRuntime(ctx, cfg, false)
}

// NewKeepingDataSegments is New without merging data segments at load, for
// benchmarks that measure what merging saves.
func NewKeepingDataSegments(ctx context.Context, cfg Config) (*Runtime, error) {
	r, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.keepDataSegments = true
	return r, nil
}

// testCache is the compilation cache the package's tests share, in a
// temporary directory: each guest is compiled once per test binary, which
// matters under the race detector, where compiling a Go guest takes tens of
// seconds.
var testCache struct {
	once  sync.Once
	dir   string
	cache wazero.CompilationCache
	err   error
}

// SharedCache returns cfg with the compilation cache the package's tests
// share.
func SharedCache(cfg Config) Config {
	testCache.once.Do(func() {
		if testCache.dir, testCache.err = os.MkdirTemp("", "wasm-apiserver-compiled"); testCache.err != nil {
			return
		}
		testCache.cache, testCache.err = wazero.NewCompilationCacheWithDir(testCache.dir)
	})
	if testCache.err != nil {
		panic(testCache.err)
	}
	cfg.cache = testCache.cache
	return cfg
}

// WithoutCodeFiles returns cfg with compiled code kept in anonymous
// memory, so that the budget can only make room by closing modules.
func WithoutCodeFiles(cfg Config) Config {
	cfg.noCodeFiles = true
	return cfg
}

// CodeDropped reports whether the budget dropped m's code, m staying
// loaded, and no instance started since.
func CodeDropped(m *Module) bool {
	m.runtime.mu.Lock()
	defer m.runtime.mu.Unlock()
	return m.codeDropped
}

// CloseSharedCache removes the cache of SharedCache; TestMain calls it.
func CloseSharedCache() {
	if testCache.cache != nil {
		_ = testCache.cache.Close(context.Background())
	}
	if testCache.dir != "" {
		_ = os.RemoveAll(testCache.dir)
	}
}

// HoldsCall says whether the instance keeps a call's context (its input
// and last API response) while no call runs.
func (i *Instance) HoldsCall() bool { return i.callCtx != nil }

// SetTemplates turns templates of initialized memory on (with
// DefaultTemplateBudgetBytes unless the runtime has a budget) or off, for
// benchmarks that compare starting from one with initializing.
func (r *Runtime) SetTemplates(on bool) {
	r.noTemplates = !on
	if on && r.cfg.TemplateBudgetBytes <= 0 {
		r.cfg.TemplateBudgetBytes = DefaultTemplateBudgetBytes
	}
}

// SetTemplateIdle sets how long a template must go unused before another
// may take its place in a full budget.
func (r *Runtime) SetTemplateIdle(d time.Duration) { r.idleTemplate = d }

// SnapshotPageHints classifies the instance's memory for its next snapshot
// with the page hints and without them, as SaveSnapshot would against the
// module's image: it says whether both ways give the same runs and
// extents, and how many pages the hints told without reading them (0 when
// the instance has no hints).
func (i *Instance) SnapshotPageHints() (same bool, told int, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	_, mem, err := i.snapshotLocked()
	if err != nil {
		return false, 0, err
	}
	img := i.owner.image
	hints, _ := i.pageHints(mem, img)
	for _, h := range hints {
		if h == hintZero || h == hintImage {
			told++
		}
	}
	hintedRuns, hintedExtents := snapshotRunsOf(mem, img, hints)
	runs, extents := snapshotRunsOf(mem, img, nil)
	return slices.Equal(hintedRuns, runs) && slices.Equal(hintedExtents, extents), told, nil
}

// SetSpareIdle turns spare instances on (d positive) or off, for
// benchmarks that compare a wake that takes a spare with one that builds
// its instance.
func (r *Runtime) SetSpareIdle(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg.SpareIdle = d
}

// WaitSpares waits for the spares being built.
func (r *Runtime) WaitSpares() { r.sparing.Wait() }

// FromSpare says whether the instance was a spare built ahead of its wake.
func (i *Instance) FromSpare() bool { return i.fromSpare }

// DropSpares closes every spare the runtime keeps.
func (r *Runtime) DropSpares() {
	r.mu.Lock()
	spares := r.takeAllSparesLocked()
	r.mu.Unlock()
	closeSpares(spares)
}

// SnapshotRuns returns how many runs the version 3 or 4 snapshot file at
// path maps: one mapping each when restored.
func SnapshotRuns(path string) (int, error) {
	s, err := snapshotHeaderOf(path)
	if err != nil {
		return 0, err
	}
	return len(s.runs), nil
}

// snapshotHeaderOf reads and checks the header of the version 3 or 4
// snapshot file at path.
func snapshotHeaderOf(path string) (*snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return readSnapshotV2Header(f, fi.Size(), maxMemory)
}

// SetPrefault turns the copying of snapshots' hot runs at restores on or
// off, for benchmarks that compare the two.
func (r *Runtime) SetPrefault(on bool) { r.noPrefault = !on }

// HotRun is a run of pages a snapshot lists as hot.
type HotRun struct{ Page, Pages, Age int }

// SnapshotHot returns the format version of the snapshot file at path and
// its hot runs.
func SnapshotHot(path string) (version int, hot []HotRun, err error) {
	s, err := snapshotHeaderOf(path)
	if err != nil {
		return 0, nil, err
	}
	for _, r := range s.hot {
		hot = append(hot, HotRun{Page: int(r.off / snapshotPage), Pages: int(r.len / snapshotPage), Age: int(r.age)})
	}
	return s.version, hot, nil
}

// DowngradeSnapshot rewrites the version 4 snapshot file at path as
// version 3, which has no hot runs, as an older host wrote it.
func DowngradeSnapshot(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s, err := parseSnapshotV2(b)
	if err != nil {
		return err
	}
	head := s.appendHeader(nil, snapshotVersion3)
	if dataOffset(uint64(len(head))) != s.dataOffset {
		return fmt.Errorf("a version 3 header of %d bytes moves the data from %d", len(head), s.dataOffset)
	}
	copy(b, make([]byte, s.dataOffset))
	copy(b, head)
	return os.WriteFile(path, b, 0o600)
}

// OwnPages returns how many pages of the instance's memory it holds a
// copy of (written, or copied in by a restore), from the kernel's page
// map.
func (i *Instance) OwnPages() (int, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.memoryBuf == nil {
		return 0, fmt.Errorf("the memory is not a mapping of its own")
	}
	entries, err := pagemapEntries(i.memoryBuf.buf)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e&(pagemapPresent|pagemapFile|pagemapSwapped) == pagemapPresent {
			n++
		}
	}
	return n, nil
}
