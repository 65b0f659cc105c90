package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/benchreport"
	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// Benchmarks share one compilation cache, so that a large guest is
// compiled cold once per test binary.
var (
	benchCacheOnce sync.Once
	benchCache     string
)

func sharedCacheDir(b *testing.B) string {
	benchCacheOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runtime-bench-cache")
		if err != nil {
			b.Fatal(err)
		}
		benchCache = dir
	})
	return benchCache
}

// resumeGuests are the guests BenchmarkResume wakes: the SDK guest (small)
// and a guest built on client-go's typed clientset (large).
var resumeGuests = []struct {
	name  string
	limit uint64
}{
	{name: "echo", limit: 64 << 20},
	{name: "clientgo", limit: 256 << 20},
}

// benchModule loads the guest name (skipping the benchmark when it does not
// build) in a runtime of cfg with the benchmarks' shared compilation cache;
// both are let go of when the benchmark ends.
func benchModule(b *testing.B, name string, cfg runtime.Config) (*runtime.Runtime, *runtime.Module) {
	b.Helper()
	wasm, err := guesttest.TryBuild(name)
	if err != nil {
		b.Skipf("guest %s does not build: %v", name, err)
	}
	cfg.CacheDir = sharedCacheDir(b)
	var r *runtime.Runtime
	m := loadWith(b, func(ctx context.Context, _ runtime.Config) (_ *runtime.Runtime, err error) {
		r, err = runtime.New(ctx, cfg)
		return r, err
	}, wasm)
	b.Cleanup(func() { m.Release(context.Background()) })
	return r, m
}

// BenchmarkResume is one wake of a guest that is not resident, ending with
// one reconcile (one API request to a fake) and the instance closed again:
// from a snapshot file (snapshot-restore), by instantiating and running
// guest init (fresh-init), against a reconcile of a resident instance
// (warm). It reports the median and 99th percentile of the operations and
// the size of the snapshot file. BENCH_LIVE_HEAP_MIB keeps that much heap
// live meanwhile, as the server's is (liveHeap).
func BenchmarkResume(b *testing.B) {
	defer goruntime.KeepAlive(liveHeap())
	for _, g := range resumeGuests {
		b.Run(g.name, func(b *testing.B) {
			images := filepath.Join(b.TempDir(), "images")
			r, m := benchModule(b, g.name, runtime.Config{ImageDir: images})
			cfg := runtime.InstanceConfig{Name: "bench", MemoryLimit: g.limit, API: &fakeAPI{}, Logger: discard}
			req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}

			// The snapshot is of a guest that has reconciled once.
			first := startReconciled(b, m, cfg, req)
			snapshot, size := steadySnapshot(b, m, cfg, req, first)
			memory := first.MemoryBytes()
			// The module's image file, which the snapshot is a delta
			// against, written by its first snapshot and shared by all.
			imageBytes := dirDiskBytes(b, images)

			// The same guest in format version 1 (DEFLATE, restored by
			// inflating), which WriteSnapshot still writes.
			v1 := filepath.Join(b.TempDir(), "snapshot-v1")
			v1Size := writeV1Snapshot(b, first, v1)
			// snapshot-restore maps the file SaveSnapshot wrote (version
			// 3) and the module's image file; snapshot-restore-first reads and verifies it, as the
			// first restore of a file after the server started does;
			// snapshot-restore-v1 inflates the version 1 file.
			// snapshot-restore-spare takes a spare instance built when the
			// last one closed (spare.go), waited for between wakes.
			for _, snap := range []struct {
				name, path string
				size       int64
				first      bool
				spare      bool
				cold       bool // the hot pages left to fault
			}{
				{name: "snapshot-restore", path: snapshot, size: size},
				{name: "snapshot-restore-cold", path: snapshot, size: size, cold: true},
				{name: "snapshot-restore-spare", path: snapshot, size: size, spare: true},
				{name: "snapshot-restore-spare-cold", path: snapshot, size: size, spare: true, cold: true},
				{name: "snapshot-restore-first", path: snapshot, size: size, first: true},
				{name: "snapshot-restore-v1", path: v1, size: v1Size},
			} {
				b.Run(snap.name, func(b *testing.B) {
					spares(b, r, snap.spare)
					r.SetPrefault(!snap.cold)
					defer r.SetPrefault(true)
					start := func() *runtime.Instance {
						if snap.first {
							r.ForgetSnapshotFiles()
						}
						inst, err := m.RestoreFile(b.Context(), cfg, snap.path)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := inst.Reconcile(b.Context(), req); err != nil {
							b.Fatal(err)
						}
						return inst
					}
					if snap.spare {
						start().Close(b.Context()) // leaves the first spare
					}
					measureEach(b, r.WaitSpares, func() {
						inst := start()
						inst.Close(b.Context())
						if inst.FromSpare() != snap.spare {
							b.Fatalf("restored from a spare: %v, want %v", inst.FromSpare(), snap.spare)
						}
					})
					if snap.spare {
						b.ReportMetric(spareHeapBytes(r), "spare-heap-bytes")
					}
					b.ReportMetric(float64(snap.size), "snapshot-bytes")
					if !strings.HasSuffix(snap.name, "-v1") {
						b.ReportMetric(float64(imageBytes), "image-bytes")
					}
					b.ReportMetric(float64(memory), "linear-memory-bytes")
					b.ReportMetric(rssGrowth(b, start), "rss-bytes/instance")
					rss, own := memoryResidency(b, start)
					b.ReportMetric(rss, "mem-rss-bytes/instance")
					b.ReportMetric(own, "mem-own-bytes/instance")
				})
			}
			// fresh-init initializes every instance; fresh-template starts
			// each from the memory of the first initialized (template.go).
			for _, fresh := range []struct {
				name      string
				templates bool
				spare     bool
			}{{"fresh-init", false, false}, {"fresh-template", true, false}, {"fresh-template-spare", true, true}} {
				b.Run(fresh.name, func(b *testing.B) {
					r.SetTemplates(fresh.templates)
					defer r.SetTemplates(false)
					spares(b, r, fresh.spare)
					start := func() *runtime.Instance { return startReconciled(b, m, cfg, req) }
					if fresh.spare {
						start().Close(b.Context()) // leaves the first spare
					}
					measureEach(b, r.WaitSpares, func() { start().Close(b.Context()) })
					b.ReportMetric(rssGrowth(b, start), "rss-bytes/instance")
					if fresh.templates {
						b.ReportMetric(float64(r.TemplateBytes()), "template-bytes")
					}
				})
			}
			b.Run("warm", func(b *testing.B) {
				measure(b, func() {
					if _, err := first.Reconcile(b.Context(), req); err != nil {
						b.Fatal(err)
					}
				})
			})
			first.Close(b.Context())
		})
	}
}

// spares turns r's spare instances on or off for the benchmark, and off
// after it, waiting for those being built.
// steadySnapshot saves first's snapshot, restores it, reconciles and
// saves the snapshot the benchmarks restore, as the host does for a
// suspended controller after its first wake: one of a restored guest,
// which lists the pages its wake wrote (hot runs). It returns the file
// and its disk size.
func steadySnapshot(b *testing.B, m *runtime.Module, cfg runtime.InstanceConfig, req runtime.Request, first *runtime.Instance) (string, int64) {
	b.Helper()
	dir := b.TempDir()
	if _, err := first.SaveSnapshot(filepath.Join(dir, "first")); err != nil {
		b.Fatal(err)
	}
	inst, err := m.RestoreFile(b.Context(), cfg, filepath.Join(dir, "first"))
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(b.Context())
	if _, err := inst.Reconcile(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "steady")
	size, err := inst.SaveSnapshot(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, size
}

func spares(b *testing.B, r *runtime.Runtime, on bool) {
	if !on {
		return
	}
	r.SetSpareIdle(time.Minute)
	b.Cleanup(func() {
		r.WaitSpares()
		r.SetSpareIdle(0)
	})
}

// spareHeapBytes returns the Go heap that the spare the last wake left
// holds: the heap live with it, less the heap live once it is closed.
func spareHeapBytes(r *runtime.Runtime) float64 {
	live := func() uint64 {
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	r.WaitSpares()
	with := live()
	r.DropSpares()
	return float64(with) - float64(live())
}

// liveHeap returns BENCH_LIVE_HEAP_MIB MiB of heap for the caller to keep
// live, nil when it is not set: a benchmark's own heap is a few MB, where
// the server's is tens (go_memstats_heap_inuse_bytes, docs/benchmarks.md),
// and the garbage collector runs a cycle each time the heap grows by what
// is live (GOGC=100), so a small heap collects far more often per wake.
func liveHeap() [][]byte {
	mib, _ := strconv.Atoi(os.Getenv("BENCH_LIVE_HEAP_MIB"))
	if mib <= 0 {
		return nil
	}
	live := make([][]byte, mib)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	return live
}

// startReconciled starts an instance of m with cfg and runs one reconcile
// of req on it.
func startReconciled(b *testing.B, m *runtime.Module, cfg runtime.InstanceConfig, req runtime.Request) *runtime.Instance {
	b.Helper()
	inst, err := m.Instantiate(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := inst.Reconcile(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	return inst
}

// measure runs op in a b.Loop and reports the median and 99th percentile
// of its durations.
func measure(b *testing.B, op func()) { measureEach(b, nil, op) }

// measureEach is measure with before, when not nil, run before each op and
// not timed.
func measureEach(b *testing.B, before, op func()) {
	var durations []time.Duration
	for b.Loop() {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		start := time.Now()
		op()
		durations = append(durations, time.Since(start))
	}
	benchreport.Percentiles(b, "", durations)
}

// rssGrowth returns how much the process's resident memory grows, per
// instance, with ten instances started by start (and closed after).
func rssGrowth(b *testing.B, start func() *runtime.Instance) float64 {
	const n = 10
	goruntime.GC()
	before := residentBytes(b)
	insts := make([]*runtime.Instance, 0, n)
	for range n {
		insts = append(insts, start())
	}
	grown := residentBytes(b) - before
	for _, inst := range insts {
		inst.Close(b.Context())
	}
	return float64(grown) / n
}

// residentBytes reads the process's resident set size.
func residentBytes(b *testing.B) int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skipf("no resident size here: %v", err)
	}
	fields := strings.Fields(string(statm))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// dirDiskBytes returns the disk space the files in dir take.
func dirDiskBytes(b *testing.B, dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += runtime.SnapshotDiskBytes(fi)
	}
	return n
}

// writeV1Snapshot writes inst's snapshot in format version 1 to path and
// returns its size.
func writeV1Snapshot(b *testing.B, inst *runtime.Instance, path string) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := inst.WriteSnapshot(f)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// memoryResidency returns, per instance, how much of the linear memory of
// ten instances started by start (and closed after) is resident, and how
// much of that is their own rather than pages of a file they map
// (Instance.ResidentMemoryBytes): unlike the process's RSS, it does not
// move with the host's heap.
func memoryResidency(b *testing.B, start func() *runtime.Instance) (rss, own float64) {
	const n = 10
	insts := make([]*runtime.Instance, 0, n)
	defer func() {
		for _, inst := range insts {
			inst.Close(b.Context())
		}
	}()
	var rssSum, ownSum int64
	for range n {
		inst := start()
		insts = append(insts, inst)
		r, o, err := inst.ResidentMemoryBytes()
		if err != nil {
			return 0, 0
		}
		rssSum += r
		ownSum += o
	}
	return float64(rssSum) / n, float64(ownSum) / n
}

// BenchmarkResumePhases is snapshot-restore-spare of BenchmarkResume taken
// apart: the restore (RestoreFile, taking the spare), the reconcile and the
// close, each with its median and 99th percentile, and the restore and
// reconcile together (resume-). The wakes during which a garbage collection
// cycle ended are counted (gc-wakes), and the resume's percentiles are
// reported again for the others (resume-nogc-; a cycle that began before
// the wake, or ends after it, may have run during one of those). It also
// reports the runs the snapshot maps (snapshot-runs), the pages it lists
// as hot (hot-pages) and the page faults of the process during the
// reconciles (reconcile-faults/op). Sub-benchmark hot copies the hot pages
// in at the restore, as the host does; cold leaves them to fault. Both
// restore one snapshot again and again; the chain- variants restore at
// each wake the snapshot the last one saved (untimed), a new file, as the
// host does, and report the hot pages its snapshots listed on average.
// BENCH_LIVE_HEAP_MIB keeps that much heap live meanwhile (liveHeap).
func BenchmarkResumePhases(b *testing.B) {
	defer goruntime.KeepAlive(liveHeap())
	images := filepath.Join(b.TempDir(), "images")
	r, m := benchModule(b, "echo", runtime.Config{ImageDir: images})
	cfg := runtime.InstanceConfig{Name: "bench", MemoryLimit: 64 << 20, API: &fakeAPI{}, Logger: discard}
	req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}
	first := startReconciled(b, m, cfg, req)
	snapshot, _ := steadySnapshot(b, m, cfg, req, first)
	first.Close(b.Context())
	runs, err := runtime.SnapshotRuns(snapshot)
	if err != nil {
		b.Fatal(err)
	}
	hotPages := hotPagesOf(b, snapshot)
	for _, phase := range []struct {
		name       string
		hot, chain bool
	}{{"hot", true, false}, {"cold", false, false}, {"chain-hot", true, true}, {"chain-cold", false, true}} {
		b.Run(phase.name, func(b *testing.B) {
			r.SetPrefault(phase.hot)
			defer r.SetPrefault(true)
			spares(b, r, true)
			from := snapshot
			dir := b.TempDir()
			restoreFile := func() *runtime.Instance {
				inst, err := m.RestoreFile(b.Context(), cfg, from)
				if err != nil {
					b.Fatal(err)
				}
				return inst
			}
			restoreFile().Close(b.Context()) // leaves the first spare
			var restore, reconcile, closing, resume, quiet []time.Duration
			gcWakes, faults, chainHot := 0, int64(0), 0
			for b.Loop() {
				b.StopTimer()
				r.WaitSpares()
				b.StartTimer()
				gc := gcCycles()
				t0 := time.Now()
				inst := restoreFile()
				t1 := time.Now()
				faulted := minorFaults(b)
				if _, err := inst.Reconcile(b.Context(), req); err != nil {
					b.Fatal(err)
				}
				faults += minorFaults(b) - faulted
				t2 := time.Now()
				if phase.chain {
					// The next wake restores this one's snapshot, a new
					// file, as the host's wakes of a controller do.
					b.StopTimer()
					next := filepath.Join(dir, strconv.Itoa(len(resume)))
					if _, err := inst.SaveSnapshot(next); err != nil {
						b.Fatal(err)
					}
					if from != snapshot {
						_ = os.Remove(from)
					}
					from = next
					chainHot += hotPagesOf(b, next)
					b.StartTimer()
				}
				t3 := time.Now()
				inst.Close(b.Context())
				t4 := time.Now()
				if !inst.FromSpare() {
					b.Fatal("the restore built its instance, want it to take the spare")
				}
				restore, reconcile, closing = append(restore, t1.Sub(t0)), append(reconcile, t2.Sub(t1)), append(closing, t4.Sub(t3))
				resume = append(resume, t2.Sub(t0))
				if gcCycles() != gc {
					gcWakes++
				} else {
					quiet = append(quiet, t2.Sub(t0))
				}
			}
			benchreport.Percentiles(b, "restore-", restore)
			benchreport.Percentiles(b, "reconcile-", reconcile)
			benchreport.Percentiles(b, "close-", closing)
			benchreport.Percentiles(b, "resume-", resume)
			benchreport.Percentiles(b, "resume-nogc-", quiet)
			b.ReportMetric(float64(gcWakes), "gc-wakes")
			b.ReportMetric(float64(faults)/float64(len(reconcile)), "reconcile-faults/op")
			b.ReportMetric(float64(runs), "snapshot-runs")
			if phase.chain {
				b.ReportMetric(float64(chainHot)/float64(len(resume)), "hot-pages")
			} else {
				b.ReportMetric(float64(hotPages), "hot-pages")
			}
		})
	}
}

// hotPagesOf returns how many pages the snapshot file at path lists as
// hot.
func hotPagesOf(b *testing.B, path string) int {
	_, hot, err := runtime.SnapshotHot(path)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, h := range hot {
		n += h.Pages
	}
	return n
}

// minorFaults returns the page faults of the process so far that read no
// disk.
func minorFaults(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Minflt
}

// gcCycles returns how many garbage collection cycles the process ended.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
