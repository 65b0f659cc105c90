package runtime

import (
	"bufio"
	"bytes"
	"os"
	goruntime "runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/go-logr/logr"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// settleCode lets the compiled code of modules earlier tests closed be
// unmapped now (wazero unmaps it when the garbage collector finalizes it),
// not while the next module compiles: code that took the addresses of code
// unmapped meanwhile cannot be told from it, and stays anonymous.
func settleCode() {
	for range 2 {
		goruntime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// codeFileOf returns the code file of m's compiled code, or nil.
func codeFileOf(m *Module) *codeFile {
	m.runtime.mu.Lock()
	compiled := m.compiled
	m.runtime.mu.Unlock()
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	return codeFiles[compiled]
}

// residentCode returns how many bytes of cf's range are resident, and
// whether the whole range is what cf lists (codeResidency).
func residentCode(t *testing.T, cf *codeFile) (int64, bool) {
	t.Helper()
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	got, err := codeResidency(map[wazero.CompiledModule]*codeFile{nil: cf}, true)
	if err != nil {
		t.Fatal(err)
	}
	rss, ok := got[cf]
	return rss, ok
}

// TestCodeFile: a module's compiled code is listed at load, and mapped from
// an unlinked file in the cache dir by the first release, which drops its
// anonymous pages; the next release drops its resident pages, and a guest
// started after runs from pages read back; the file is forgotten once the
// module is closed.
func TestCodeFile(t *testing.T) {
	settleCode()
	r := newTestRuntime(t, Config{CacheDir: t.TempDir()})
	m, err := r.Load(t.Context(), guesttest.Build(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	cf := codeFileOf(m)
	if cf == nil {
		t.Fatal("the echo guest's compiled code is not listed")
	}
	size := int64(cf.end - cf.start)
	if cf.backed() || r.CodeFileBytes() != 0 {
		t.Fatal("the code was mapped from a file before any release")
	}
	start := func() {
		t.Helper()
		inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: "default/echo", MemoryLimit: 64 << 20, Logger: logr.Discard()})
		if err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
	}
	start() // runs the guest's init: much of its code

	// The first release maps the file: all of the code was resident,
	// written by wazero, and none of the file's pages are mapped yet.
	released, err := ReleaseCodePages()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.backed() || r.CodeFileBytes() != size || size < minCodeFileBytes {
		t.Fatalf("after a release: mapped from a file %t, CodeFileBytes %d, want the code's %d bytes", cf.backed(), r.CodeFileBytes(), size)
	}
	if released < size*9/10 {
		t.Errorf("the first release dropped %d bytes of %d bytes of code", released, size)
	}
	if after, ok := residentCode(t, cf); !ok || after > size/10 {
		t.Fatalf("resident code %d bytes after the first release (still mapped from the file: %t)", after, ok)
	}
	for _, line := range mapsLines(t, cf) {
		if !bytes.HasSuffix(line, []byte("(deleted)")) {
			t.Errorf("code mapped from a file that is not unlinked: %s", line)
		}
	}

	start() // from the file's pages
	before, _ := residentCode(t, cf)
	if released, err = ReleaseCodePages(); err != nil {
		t.Fatal(err)
	}
	after, ok := residentCode(t, cf)
	if !ok || before == 0 || released < before || after > before/10 {
		t.Fatalf("resident code %d bytes before the release, %d after (still mapped from the file: %t); released %d", before, after, ok, released)
	}
	start() // from the pages read back
	if again, _ := residentCode(t, cf); again <= after {
		t.Errorf("resident code %d bytes after a guest ran, %d before: it ran no code from the file?", again, after)
	}

	m.Release(t.Context())
	if codeFileOf(m) != nil || r.CodeFileBytes() != 0 {
		t.Error("the code file of a released module is still listed")
	}
}

// mapsLines returns the lines of /proc/self/maps within cf's range.
func mapsLines(t *testing.T, cf *codeFile) [][]byte {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := parseMapsLine(sc.Bytes()); ok && m.span.start >= cf.start && m.span.end <= cf.end {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if len(out) == 0 {
		t.Fatal("no mapping in the code file's range")
	}
	return out
}

// TestCodeFile_InMemoryDir: with the cache dir on a file system held in
// memory, the code stays anonymous: a file there would only double it.
func TestCodeFile_InMemoryDir(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "codefile-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || uint32(st.Type) != unix.TMPFS_MAGIC {
		t.Skip("/dev/shm is not a tmpfs here")
	}
	r := newTestRuntime(t, Config{CacheDir: dir})
	m := load(t, r, guesttest.Build(t, "echo"))
	if codeFileOf(m) != nil {
		t.Error("compiled code mapped from a file on a tmpfs")
	}
}

// TestReleaseCodeFiles_OnlyItsCode: a listed range that is no longer what
// was listed (its module closed and the range used again) is forgotten and
// left as it is: neither dropped, were it listed as mapped from a file, nor
// written to a file and mapped over, were it listed as anonymous code;
// whether the release measures what is resident (smaps) or not (maps).
func TestReleaseCodeFiles_OnlyItsCode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ino     uint64
		measure bool
	}{{"mapped from a file", 1, true}, {"anonymous", 0, true}, {"mapped from a file, not measured", 1, false},
		{"anonymous, not measured", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := unix.Mmap(-1, 0, minCodeFileBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(b)
			for i := range b {
				b[i] = 0xa5
			}
			start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			cf := &codeFile{start: start, end: start + uintptr(len(b)), ino: tc.ino, owner: &Runtime{cfg: Config{CacheDir: t.TempDir()}}}
			codeFilesMu.Lock()
			codeFiles[nil] = cf
			released, err := releaseCodeFilesLocked(map[wazero.CompiledModule]*codeFile{nil: cf}, tc.measure)
			_, listed := codeFiles[nil]
			delete(codeFiles, nil)
			codeFilesMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if released != 0 || listed || cf.ino != tc.ino {
				t.Errorf("released %d bytes, still listed %v, inode %d: want 0, the file forgotten and not mapped", released, listed, cf.ino)
			}
			b[0] = 0x5a // still writable memory, not a mapping of a file
			if b[1] != 0xa5 || b[len(b)-1] != 0xa5 {
				t.Error("memory that is not a module's code was dropped")
			}
		})
	}
}

func TestLargestAdded(t *testing.T) {
	s := func(a, b uintptr) codeSpan { return codeSpan{a, b} }
	for _, tc := range []struct {
		name          string
		before, after []codeSpan
		want          codeSpan
	}{
		{"nothing new", []codeSpan{s(0, 10)}, []codeSpan{s(0, 10)}, codeSpan{}},
		{"a new span", []codeSpan{s(0, 10)}, []codeSpan{s(0, 10), s(20, 50)}, s(20, 50)},
		{"the largest of two", nil, []codeSpan{s(0, 10), s(20, 50)}, s(20, 50)},
		{"merged after an old one", []codeSpan{s(0, 10)}, []codeSpan{s(0, 40)}, s(10, 40)},
		{"merged before an old one", []codeSpan{s(30, 40)}, []codeSpan{s(0, 40)}, s(0, 30)},
		{"between two old ones", []codeSpan{s(0, 10), s(30, 40)}, []codeSpan{s(0, 40)}, s(10, 30)},
		{"an old one gone", []codeSpan{s(0, 10), s(20, 30)}, []codeSpan{s(20, 30)}, codeSpan{}},
		{"in place of a larger old one", []codeSpan{s(0, 100)}, []codeSpan{s(0, 50)}, codeSpan{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := largestAdded(tc.before, tc.after); got != tc.want {
				t.Errorf("largestAdded(%v, %v) = %v, want %v", tc.before, tc.after, got, tc.want)
			}
		})
	}
}

// TestCodeFile_OverBudget: a module over the budget even with its native
// code dropped is closed after every wake, never has its code dropped: its
// code is never written to a file.
func TestCodeFile_OverBudget(t *testing.T) {
	reg := metrics.NewKubeRegistry()
	r := newTestRuntime(t, Config{CacheDir: t.TempDir(), CompiledBudgetBytes: 1, Metrics: reg})
	m := load(t, r, guesttest.Build(t, "echo"))
	for wake := range 2 {
		inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: "default/echo", MemoryLimit: 64 << 20, Logger: logr.Discard()})
		if err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
		if m.Resident() {
			t.Errorf("wake %d: a module over the budget stayed loaded", wake)
		}
		if got := r.CodeFileBytes(); got != 0 {
			t.Errorf("wake %d: CodeFileBytes = %d, want 0: the code was written to a file", wake, got)
		}
	}
	// Nor dropped on its way to being closed, which writes it too.
	if got, err := testutil.GetCounterMetricValue(r.metrics.codeDrops); err != nil || got != 0 {
		t.Errorf("code drops = %v (%v), want 0", got, err)
	}
}

// TestCodeFile_TwoModules: the code of modules compiled one after the other
// may lie next to each other, merged by the kernel into one mapping; each is
// still mapped from a file of its own.
func TestCodeFile_TwoModules(t *testing.T) {
	settleCode()
	r := newTestRuntime(t, Config{CacheDir: t.TempDir()})
	wasm := guesttest.Build(t, "echo")
	var listed int64
	for _, name := range []string{"one", "two"} {
		cf := codeFileOf(load(t, r, guesttest.WithCustomSection(wasm, name)))
		if cf == nil {
			t.Fatalf("module %s: its code is not listed", name)
		}
		listed += int64(cf.end - cf.start)
	}
	if _, err := ReleaseCodePages(); err != nil {
		t.Fatal(err)
	}
	if got := r.CodeFileBytes(); got != listed {
		t.Errorf("CodeFileBytes = %d after a release, want both modules' %d", got, listed)
	}
}

func TestListedResidency(t *testing.T) {
	anon := func(start, end uintptr, rss int64) smapsMapping {
		return smapsMapping{mapsLine: mapsLine{span: codeSpan{start, end}, perms: "r-xp"}, rss: rss}
	}
	file := func(start, end uintptr, ino uint64, rss, private int64) smapsMapping {
		m := anon(start, end, rss)
		m.ino, m.anonymous = ino, private
		return m
	}
	named := anon(0x1000, 0x3000, 0x2000)
	named.named = true
	listed, backed := &codeFile{start: 0x1000, end: 0x3000}, &codeFile{start: 0x1000, end: 0x3000, ino: 7}
	for _, tc := range []struct {
		name    string
		cf      *codeFile
		all     []smapsMapping
		wantRSS int64
		wantOK  bool
	}{
		{"anonymous, alone", listed, []smapsMapping{anon(0x1000, 0x3000, 0x2000)}, 0x2000, true},
		{"anonymous, merged with its neighbours", listed, []smapsMapping{anon(0x0, 0x4000, 0x4000)}, 0x2000, true},
		{"anonymous, partly gone", listed, []smapsMapping{anon(0x1000, 0x2000, 0x1000)}, 0, false},
		{"anonymous, now a file's", listed, []smapsMapping{file(0x1000, 0x3000, 9, 0, 0)}, 0, false},
		{"anonymous, named", listed, []smapsMapping{named}, 0, false},
		{"its file", backed, []smapsMapping{file(0x1000, 0x2000, 7, 0x1000, 0), file(0x2000, 0x3000, 7, 0, 0)}, 0x1000, true},
		{"another file", backed, []smapsMapping{file(0x1000, 0x3000, 8, 0x1000, 0)}, 0, false},
		{"its file, a page written", backed, []smapsMapping{file(0x1000, 0x3000, 7, 0x1000, 0x1000)}, 0, false},
		{"its file, beyond its range", backed, []smapsMapping{file(0x0, 0x3000, 7, 0x1000, 0)}, 0, false},
		{"anonymous again", backed, []smapsMapping{anon(0x1000, 0x3000, 0x2000)}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rss, ok := listedResidency(tc.cf, tc.all)
			if rss != tc.wantRSS || ok != tc.wantOK {
				t.Errorf("listedResidency = %#x, %t; want %#x, %t", rss, ok, tc.wantRSS, tc.wantOK)
			}
		})
	}
}
