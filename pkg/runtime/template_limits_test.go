package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Templates against hostile modules: each test here is one way a module
// could use templates to crash or bloat the server.

// newTemplateTestRuntime returns a runtime with templates on and budget.
func newTemplateTestRuntime(t *testing.T, budget int64) *Runtime {
	t.Helper()
	return newTestRuntime(t, Config{TemplateBudgetBytes: budget})
}

// newTestRuntime returns a runtime of cfg, closed at the end of the test.
func newTestRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	r, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// loadTest loads tm into r.
func loadTest(t *testing.T, r *Runtime, tm testModule) *Module {
	t.Helper()
	m, err := r.Load(t.Context(), tm.encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	return m
}

// startTest instantiates m as name and closes the instance at the end of
// the test.
func startTest(t *testing.T, m *Module, name string) *Instance {
	t.Helper()
	inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: name, MemoryLimit: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close(context.Background()) })
	return inst
}

// growOne is the code of memory.grow(1), its result dropped.
var growOne = []byte{0x41, 1, 0x40, 0, 0x1a}

// TestTemplate_StartFunctionGrowth checks that a module's start function,
// which runs on scratch memory before the template is mapped, cannot keep
// using that memory once the runtime gives it back for other instances:
// its memory.grow moves it off the scratch buffer first, and the module
// stops using templates.
func TestTemplate_StartFunctionGrowth(t *testing.T) {
	const marker = 0xab
	tm := driverModule()
	n := uint32(len(driverImports))
	// _initialize grows memory by a page; the start function grows it by
	// another, then writes marker at address 0.
	store := appendSigned(append([]byte{0x41, 0}, 0x41), marker)
	store = append(store, 0x36, 2, 0) // i32.store
	tm.funcs = append(tm.funcs, testFunc{body: growOne}, testFunc{body: append(append([]byte{}, growOne...), store...)})
	tm.exports = append(tm.exports, testExport{name: "_initialize", index: n + 2})
	tm.start = n + 3 + 1
	r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
	m := loadTest(t, r, tm)

	startTest(t, m, "test/first")
	if r.TemplateBytes() == 0 {
		t.Fatal("the first instance left no template")
	}
	inst := startTest(t, m, "test/first")
	if got, want := inst.module.Memory().Size(), uint32(4*wasmPage); got != want {
		t.Errorf("memory of %d bytes, want %d", got, want)
	}
	if b, ok := inst.module.Memory().ReadByte(0); !ok || b != marker {
		t.Errorf("memory[0] = %#x, want the start function's %#x", b, marker)
	}
	r.scratch.mu.Lock()
	idle := r.scratch.idle
	r.scratch.mu.Unlock()
	if len(idle) > 0 && idle[0] == marker {
		t.Error("the start function wrote to scratch memory after it went back to the pool")
	}
	if got := r.TemplateBytes(); got != 0 || !m.noTemplates {
		t.Errorf("TemplateBytes() = %d, noTemplates %v: want the module's templates stopped", got, m.noTemplates)
	}
}

// scatteredModule is a driver module whose memory holds a byte that is
// not zero every 6 template pages, runs times.
func scatteredModule(runs int) testModule {
	tm := driverModule()
	tm.memPages = uint32(runs*6*templatePage/wasmPage + 1)
	for k := range runs {
		tm.data = append(tm.data, testData{offset: uint32(k * 6 * templatePage), bytes: []byte{1}})
	}
	return tm
}

// TestTemplate_RunsBounded checks that a template maps at most
// maxTemplateRuns runs into each instance: a memory scattered over more
// keeps no template, rather than costing every instance that many
// mappings.
func TestTemplate_RunsBounded(t *testing.T) {
	tests := []struct {
		runs int
		kept bool
	}{
		{runs: maxTemplateRuns, kept: true},
		{runs: maxTemplateRuns + 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.runs), func(t *testing.T) {
			r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
			m := loadTest(t, r, scatteredModule(tc.runs))
			startTest(t, m, "test/scattered")
			inst := startTest(t, m, "test/scattered")
			if kept := r.TemplateBytes() > 0; kept != tc.kept {
				t.Fatalf("template kept: %v, want %v", kept, tc.kept)
			}
			if !tc.kept && !m.noTemplates {
				t.Error("a module too scattered for a template tries again at every start")
			}
			if tc.kept && inst.memoryBuf.runs != int64(tc.runs) {
				t.Errorf("%d runs mapped, want %d", inst.memoryBuf.runs, tc.runs)
			}
		})
	}
}

// TestTemplatePages_Runs checks how pages that are not zero become runs:
// gaps of up to templateGap join them, and the holes they map count as
// mapped.
func TestTemplatePages_Runs(t *testing.T) {
	tests := []struct {
		name     string
		pages    []int // pages that are not zero
		runs     int
		mapped   int64
		wantErr  error
		limitPgs int64
	}{
		{name: "gap joined", pages: []int{0, 5}, runs: 1, mapped: 6 * templatePage},
		{name: "gap kept", pages: []int{0, 6}, runs: 2, mapped: 2 * templatePage},
		{name: "all zero", runs: 0},
		{name: "holes count against the limit", pages: []int{0, 5}, limitPgs: 5, wantErr: errOverTemplateBudget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := make([]byte, 16*templatePage)
			for _, p := range tc.pages {
				mem[p*templatePage] = 1
			}
			limit := int64(len(mem))
			if tc.limitPgs > 0 {
				limit = tc.limitPgs * templatePage
			}
			for _, dir := range []string{"", t.TempDir()} {
				p, err := newTemplatePages(dir, mem, limit)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("newTemplatePages(%q): %v, want %v", dir, err, tc.wantErr)
				}
				if err != nil {
					continue
				}
				if len(p.runs) != tc.runs || p.mapped != tc.mapped {
					t.Errorf("in %q: %d runs, %d bytes mapped; want %d, %d", dir, len(p.runs), p.mapped, tc.runs, tc.mapped)
				}
				if tc.runs == 0 && p.fd >= 0 {
					t.Errorf("in %q: a template of zero memory holds a file", dir)
				}
				p.close()
			}
		})
	}
}

// TestTemplatePages_InDirectory checks that a runtime with a TemplateDir
// keeps a template's pages in a file of that directory: page cache the
// kernel can reclaim, not memory only the template's end frees, which a
// memfd is; that the file is held read-only and named (a file open for
// writing, or unlinked and open, keeps the file system from being
// remounted read-only) and removed with the template; and that an
// instance mapping it reads the memory captured and writes only its own.
func TestTemplatePages_InDirectory(t *testing.T) {
	dir := t.TempDir()
	mem := make([]byte, 16*templatePage)
	for _, pg := range []int{1, 2, 9} {
		mem[pg*templatePage+7] = byte(pg)
	}
	p, err := newTemplatePages(dir, mem, int64(len(mem)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	var st, dst unix.Stat_t
	if err := unix.Fstat(p.fd, &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(dir, &dst); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Dev != dst.Dev || st.Nlink != 1 {
		t.Errorf("template file: mode %o, device %d, %d links; want a regular file with a name on the directory's device %d",
			st.Mode, st.Dev, st.Nlink, dst.Dev)
	}
	if flags, err := unix.FcntlInt(uintptr(p.fd), unix.F_GETFL, 0); err != nil || flags&unix.O_ACCMODE != unix.O_RDONLY {
		t.Errorf("template file open with flags %o (%v), want read-only", flags, err)
	}
	if link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", p.fd)); strings.HasPrefix(link, "/memfd:") {
		t.Errorf("template file is %s, want a file of %s", link, dir)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), templateFilePrefix) {
		t.Errorf("directory holds %v (%v), want the template's file", entries, err)
	}
	buf := mapTemplateTest(t, p, len(mem))
	if !bytes.Equal(buf, mem) {
		t.Error("the mapped memory differs from the memory captured")
	}
	buf[templatePage+7] = 99
	again := mapTemplateTest(t, p, len(mem))
	if again[templatePage+7] != 1 {
		t.Errorf("a second instance reads %d where the first wrote, want the template's 1", again[templatePage+7])
	}
	p.close()
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("directory holds %v (%v) once the template is closed, want nothing", entries, err)
	}
	if again[9*templatePage+7] != 9 {
		t.Error("an instance's mapping changed when the template's file was removed")
	}
}

// mapTemplateTest maps p over a new memory of size bytes, as an instance's,
// unmapped at the end of the test.
func mapTemplateTest(t *testing.T, p *templatePages, size int) []byte {
	t.Helper()
	buf, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(buf) })
	if err := p.mapOver(buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

// TestNew_TemplateDirLeftovers checks that a runtime removes the files of
// templates a runtime stopped before removing them left in its
// TemplateDir, and nothing else.
func TestNew_TemplateDirLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "templates")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{templateFilePrefix + "123", "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(t.Context(), Config{TemplateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"other"}) {
		t.Errorf("directory holds %v, want [other]", names)
	}
}

// TestTemplate_CountBounded checks that templates of memory that is all
// zero, which map nothing, still cost the budget, and that a runtime keeps
// at most maxTemplates of them.
func TestTemplate_CountBounded(t *testing.T) {
	r := newTemplateTestRuntime(t, 1<<40)
	m := loadTest(t, r, driverModule())
	startTest(t, m, "test/zero")
	if got := r.TemplateBytes(); got != templateOverhead {
		t.Errorf("TemplateBytes() = %d for a template of zero memory, want %d", got, templateOverhead)
	}
	for k := range maxTemplates + 4 {
		inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: fmt.Sprintf("test/zero-%d", k), MemoryLimit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
	}
	r.mu.Lock()
	count := len(m.templates)
	r.mu.Unlock()
	if count != maxTemplates {
		t.Errorf("%d templates kept, want at most %d", count, maxTemplates)
	}
}

// TestScratchMemory_Bounded checks that no scratch buffer over maxScratch
// is made, so that the one kept idle stays small.
func TestScratchMemory_Bounded(t *testing.T) {
	var s scratchMemory
	defer s.close()
	if b := s.get(maxScratch+wasmPage, nil, true); b != nil {
		unmapMemory(b)
		t.Errorf("scratch buffer of %d bytes made, want none over %d", len(b), maxScratch)
	}
}

// TestScratchMemory_Cleared checks that a scratch buffer is zero when it
// is handed out again: it held another module's data segments and what its
// start function wrote, which the next module's start function must not
// read.
func TestScratchMemory_Cleared(t *testing.T) {
	var s scratchMemory
	defer s.close()
	b := s.get(wasmPage, nil, true)
	if b == nil {
		t.Skip("no mapped scratch memory here")
	}
	b[0], b[wasmPage-1] = 1, 1
	s.put(b)
	if b = s.get(wasmPage, nil, true); b[0] != 0 || b[wasmPage-1] != 0 {
		t.Error("a scratch buffer was handed out again with what it held")
	}
	s.put(b)
}

// TestTemplate_OneCaptureAtATime checks that a capture is skipped while
// another is under way, so that files written before they are charged
// never add up past the budget.
func TestTemplate_OneCaptureAtATime(t *testing.T) {
	r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
	m := loadTest(t, r, scatteredModule(2))
	r.capturing.Lock()
	startTest(t, m, "test/busy")
	r.capturing.Unlock()
	if got := r.TemplateBytes(); got != 0 {
		t.Fatalf("TemplateBytes() = %d during another capture, want 0", got)
	}
	startTest(t, m, "test/busy")
	if r.TemplateBytes() == 0 {
		t.Error("no template captured once the other capture ended")
	}
}

// TestTemplate_FileOutlivesDrop checks that a template dropped while an
// instantiation applies it keeps its file until that instantiation gives
// it back: closed at once, its descriptor could be reused for another
// tenant's template and mapped in its place.
func TestTemplate_FileOutlivesDrop(t *testing.T) {
	r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
	m := loadTest(t, r, scatteredModule(2))
	cfg := InstanceConfig{Name: "test/drop", MemoryLimit: 16 << 20}
	startTest(t, m, cfg.Name)
	tpl := m.template(newTemplateKey(cfg, m.sharedInit))
	if tpl == nil {
		t.Fatal("no template")
	}
	r.mu.Lock()
	r.dropTemplatesLocked(m)
	r.mu.Unlock()
	if tpl.pages.fd < 0 {
		t.Fatal("the template's file was closed while an instantiation held it")
	}
	r.releaseTemplate(tpl)
	if tpl.pages.fd >= 0 {
		t.Error("the template's file is still open after its last user gave it back")
	}
	if got := r.TemplateBytes(); got != 0 {
		t.Errorf("TemplateBytes() = %d after the drop, want 0", got)
	}
}

// TestTemplate_MappedRunsBounded checks that instances start from a
// template only while the runs mapped into all guests' memories stay
// within maxLiveMappedRuns, and that closing an instance gives its
// runs back.
func TestTemplate_MappedRunsBounded(t *testing.T) {
	r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
	m := loadTest(t, r, scatteredModule(3))
	startTest(t, m, "test/runs")
	inst := startTest(t, m, "test/runs")
	if inst.memoryBuf.runs != 3 || r.mappedRuns.Load() != 3 {
		t.Fatalf("%d runs mapped, %d counted; want 3 and 3", inst.memoryBuf.runs, r.mappedRuns.Load())
	}
	inst.Close(t.Context())
	if got := r.mappedRuns.Load(); got != 0 {
		t.Fatalf("%d runs counted after the instance closed, want 0", got)
	}
	r.mappedRuns.Store(maxLiveMappedRuns - 2)
	defer r.mappedRuns.Store(0)
	if inst := startTest(t, m, "test/runs"); inst.memoryBuf.runs != 0 {
		t.Errorf("%d runs mapped past the bound, want an instance that initializes", inst.memoryBuf.runs)
	}
}

// TestTemplate_MemoryOver4GiB checks that a memory of 4 GiB, whose size
// wazero's 32-bit sizes cannot hold, keeps no template.
func TestTemplate_MemoryOver4GiB(t *testing.T) {
	r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
	m := loadTest(t, r, driverModule())
	mem := mapMemory(1 << 32)
	if mem == nil {
		t.Skip("cannot map 4 GiB of address space")
	}
	defer unmapMemory(mem)
	inst := &Instance{memoryBuf: &limitedMemory{buf: mem[:1<<32], mapped: true}}
	m.captureTemplate(newTemplateKey(InstanceConfig{Name: "test/huge"}, false), inst)
	if got := r.TemplateBytes(); got != 0 {
		t.Errorf("TemplateBytes() = %d after a 4 GiB memory, want 0", got)
	}
}

// TestRestore_MappedRunsBounded checks that snapshot restores count the
// runs they map against the same bound as templates, and read the
// snapshot instead past it.
func TestRestore_MappedRunsBounded(t *testing.T) {
	r := newTemplateTestRuntime(t, 0)
	m := loadTest(t, r, scatteredModule(3))
	path := filepath.Join(t.TempDir(), "snapshot")
	if _, err := startTest(t, m, "test/restore").SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	restore := func() *Instance {
		t.Helper()
		inst, err := m.RestoreFile(t.Context(), InstanceConfig{Name: "test/restore", MemoryLimit: 16 << 20}, path)
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := inst.module.Memory().ReadByte(6 * templatePage); !ok || b != 1 {
			t.Errorf("restored memory reads %#x at page 6, want 1", b)
		}
		return inst
	}
	inst := restore()
	if inst.memoryBuf.runs == 0 || r.mappedRuns.Load() != inst.memoryBuf.runs {
		t.Fatalf("%d runs mapped, %d counted; want the snapshot's, counted", inst.memoryBuf.runs, r.mappedRuns.Load())
	}
	inst.Close(t.Context())
	if got := r.mappedRuns.Load(); got != 0 {
		t.Fatalf("%d runs counted after the instance closed, want 0", got)
	}
	r.mappedRuns.Store(maxLiveMappedRuns)
	defer r.mappedRuns.Store(0)
	inst = restore()
	defer inst.Close(t.Context())
	if inst.memoryBuf.runs != 0 {
		t.Errorf("%d runs mapped past the bound, want the snapshot read", inst.memoryBuf.runs)
	}
}

// TestScratchMemory_DroppedWhenIdle checks that the idle scratch buffer
// goes back to the OS once unused for a while, so that a server whose
// guests are all suspended holds none, and that a buffer in use since is
// kept.
func TestScratchMemory_DroppedWhenIdle(t *testing.T) {
	const after = 50 * time.Millisecond
	s := scratchMemory{dropAfter: after}
	defer s.close()
	b := s.get(wasmPage, nil, true)
	if b == nil {
		t.Skip("no mapped scratch memory here")
	}
	s.put(b)
	idle := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.idle != nil
	}
	if !idle() {
		t.Fatal("the scratch buffer was not kept for the next instance")
	}
	deadline := time.Now().Add(10 * time.Second)
	for idle() && time.Now().Before(deadline) {
		time.Sleep(after / 5)
	}
	if idle() {
		t.Fatalf("the scratch buffer was still kept %s after it was last used", 10*time.Second)
	}
	// Used again, it is kept again: the timer is re-armed.
	s.put(s.get(wasmPage, nil, true))
	if !idle() {
		t.Error("a scratch buffer given back after a drop was not kept")
	}
}
