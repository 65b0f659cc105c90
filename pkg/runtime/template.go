package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"k8s.io/klog/v2"
)

// A module's memory and globals right after its _initialize are the same
// for every instance started with the same arguments and environment, as
// long as initialization is deterministic in them (docs/abi.md). So the
// first fresh instance of a (module, name, environment, reconciler)
// captures them once, after select_reconciler, as a template, and a later
// fresh instance maps the template over its
// memory copy-on-write instead of initializing: it shares the template's
// pages until it writes to them, and skips the guest's init altogether
// (pre-initialization, as Wizer does ahead of time).

// DefaultTemplateBudgetBytes is the suggested Config.TemplateBudgetBytes
// for a runtime that turns templates on: room for some thirty small Go
// guests' templates (2 MB each) or two client-go guests' (23 MB).
// Templates are off unless the budget is positive.
const DefaultTemplateBudgetBytes = 64 << 20

// templateFilePrefix names the files of templates in Config.TemplateDir,
// each removed when its template is dropped; a runtime stopped without
// dropping them leaves them for the next one's New to remove.
const templateFilePrefix = "template-"

// prepareTemplateDir creates dir, and removes the files of templates a
// runtime that stopped without dropping them left there.
func prepareTemplateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &StorageError{Op: "template directory " + dir, Err: err}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &StorageError{Op: "template directory " + dir, Err: err}
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), templateFilePrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return &StorageError{Op: "template directory " + dir, Err: err}
			}
		}
	}
	return nil
}

// errOverTemplateBudget says that a template does not fit what is left of
// the runtime's budget.
var errOverTemplateBudget = errors.New("over the template budget")

// maxTemplates bounds how many templates a runtime keeps, whatever their
// size: each holds a file descriptor and the runtime's bookkeeping.
const maxTemplates = 256

// templateOverhead is what each template is charged besides its mapped
// pages, so that templates of memory that is all zero, which map nothing,
// still count against the budget.
const templateOverhead = 64 << 10

// templateKey identifies what initialization depends on besides the
// module: the guest's argument (its name), its whole environment, and the
// reconciler it selected right after (a bundle's, kept in its memory). A
// module that exports wasm_apiserver_shared_init gets the same argument
// whatever its name, so its key holds the tenant instead: its
// controllers in one namespace share a template.
type templateKey [sha256.Size]byte

// newTemplateKey hashes an instance's name (or, when shared and the
// instance has a tenant, its tenant), reconciler and environment. An
// instance without a tenant shares its template with no other name.
func newTemplateKey(cfg InstanceConfig, shared bool) templateKey {
	h := sha256.New()
	if shared && cfg.Tenant != "" {
		h.Write([]byte("tenant\x00"))
		h.Write([]byte(cfg.Tenant))
	} else {
		h.Write([]byte("name\x00"))
		h.Write([]byte(cfg.Name))
	}
	h.Write([]byte{0})
	h.Write([]byte(cfg.Reconciler))
	h.Write([]byte{0})
	hashEnv(h, cfg.Env)
	var key templateKey
	copy(key[:], h.Sum(nil))
	return key
}

// hashEnv writes env to h in key order, each name and value
// length-prefixed, so that no two environments write the same bytes.
func hashEnv(h io.Writer, env map[string]string) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(env[k]), env[k])
	}
}

// memoryTemplate is an instance's memory and globals right after its
// initialization, held outside the Go heap (templatePages).
type memoryTemplate struct {
	pages *templatePages
	// memory is the size of the linear memory.
	memory uint64
	// globals are the values of the module's mutable globals, in the
	// order of Module.globals.
	globals []uint64
	// lastUsed is when an instance last started from it; guarded by
	// runtime.mu.
	lastUsed time.Time
	// cost is what the template is charged against the budget: its
	// mapped pages and templateOverhead.
	cost int64
	// refs counts the instantiations applying the template, and dropped
	// says it left its module; its file is closed once both say it is
	// unused, so that no instantiation maps a file whose descriptor was
	// closed and perhaps reused for another template. Guarded by
	// runtime.mu.
	refs    int
	dropped bool
}

// defaultTemplateIdle is how long a template must go unused before a new one may
// take its place in a full budget: a controller deleted or given another
// environment leaves a template behind, while controllers woken in turn
// must not make each other capture theirs at every wake.
const defaultTemplateIdle = time.Minute

// templateBudget returns the runtime's bound on templates' memory, or a
// negative value when templates are off (the default).
func (r *Runtime) templateBudget() int64 {
	if r.noTemplates || r.cfg.TemplateBudgetBytes <= 0 {
		return -1
	}
	return r.cfg.TemplateBudgetBytes
}

// template returns the module's template for key, or nil. The caller
// must give the template back with releaseTemplate once its instance is
// mapped.
func (m *Module) template(key templateKey) *memoryTemplate {
	r := m.runtime
	r.mu.Lock()
	defer r.mu.Unlock()
	t := m.templates[key]
	if t != nil {
		t.lastUsed = time.Now()
		t.refs++
	}
	return t
}

// releaseTemplate gives back a template that template returned, closing
// its file if it was dropped meanwhile.
func (r *Runtime) releaseTemplate(t *memoryTemplate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.refs--
	if t.dropped && t.refs == 0 {
		t.pages.close()
	}
}

// dropTemplateLocked takes the template of key from m, releasing its
// budget; its file is closed now, or by the last instantiation still
// applying it. r.mu must be held.
func (r *Runtime) dropTemplateLocked(m *Module, key templateKey) {
	t := m.templates[key]
	delete(m.templates, key)
	r.templateBytes -= t.cost
	r.templateCount--
	t.dropped = true
	if t.refs == 0 {
		t.pages.close()
	}
}

// dropIdleTemplateLocked drops the template unused for longest, if it has
// been unused for templateIdle, and says whether it dropped one. r.mu must
// be held.
func (r *Runtime) dropIdleTemplateLocked() bool {
	var (
		owner  *Module
		oldest templateKey
		at     time.Time
	)
	idleSince := time.Now().Add(-r.templateIdle())
	for _, m := range r.modules {
		for key, t := range m.templates {
			if t.lastUsed.Before(idleSince) && (owner == nil || t.lastUsed.Before(at)) {
				owner, oldest, at = m, key, t.lastUsed
			}
		}
	}
	if owner == nil {
		return false
	}
	r.dropTemplateLocked(owner, oldest)
	return true
}

// templateFitsLocked says whether one more template costing cost fits the
// budget and the bound on their number, dropping idle templates, least
// recently used first, to make room. r.mu must be held.
func (r *Runtime) templateFitsLocked(cost, budget int64) bool {
	for r.templateCount >= maxTemplates || r.templateBytes+cost > budget {
		if !r.dropIdleTemplateLocked() {
			return false
		}
	}
	return true
}

// captureTemplate keeps the memory and globals of inst, fresh from its
// initialization, as the module's template for key, unless the module has
// one already, cannot be snapshotted or failed to start from a template,
// another capture is under way, or the runtime's budget or bound on
// templates is spent. Failing to capture costs only the saving.
func (m *Module) captureTemplate(key templateKey, inst *Instance) {
	r := m.runtime
	budget := r.templateBudget()
	if budget < 0 || m.snapshotErr != nil || inst.memoryBuf == nil || !inst.memoryBuf.mapped {
		return
	}
	size := uint64(len(inst.memoryBuf.buf))
	if size > maxMemory {
		return // 4 GiB does not fit wazero's 32-bit memory sizes
	}
	// One capture at a time: the file of each is written before it is
	// charged, so concurrent captures would hold more than the budget.
	if !r.capturing.TryLock() {
		return
	}
	defer r.capturing.Unlock()
	r.mu.Lock()
	_, have := m.templates[key]
	if time.Now().Before(m.captureAfter) {
		have = true // a capture failed lately: not again at every start
	}
	if !have && !m.noTemplates {
		// The memory's size bounds the template's: make room for it if
		// idle templates allow, whether or not it will take it all.
		r.templateFitsLocked(int64(size)+templateOverhead, budget)
	}
	fits := !have && !m.noTemplates && r.templateFitsLocked(templateOverhead, budget)
	left := budget - r.templateBytes - templateOverhead
	r.mu.Unlock()
	if !fits {
		return
	}
	t := &memoryTemplate{}
	for _, g := range m.globals {
		exported := inst.module.ExportedGlobal(g.exportName())
		if exported == nil {
			return
		}
		t.globals = append(t.globals, exported.Get())
	}
	t.memory = size
	pages, err := newTemplatePages(r.cfg.TemplateDir, inst.memoryBuf.buf[:size], left)
	if errors.Is(err, errOverTemplateBudget) || errors.Is(err, errTemplateRuns) {
		// Scanning and writing the memory again at every start would cost
		// more than the template saves: scattered memory is the module's
		// own, and the budget may have room again in a while.
		klog.V(4).InfoS("Not keeping a module's initialized memory", "digest", m.Digest, "err", err)
		r.mu.Lock()
		if errors.Is(err, errTemplateRuns) {
			m.noTemplates = true
		} else {
			m.captureAfter = time.Now().Add(r.templateIdle())
		}
		r.mu.Unlock()
		return
	}
	if err != nil {
		// A full or missing template directory, say: not again at every
		// start.
		klog.V(2).InfoS("Capturing a module's initialized memory failed; its instances initialize", "digest", m.Digest, "err", err)
		r.mu.Lock()
		m.captureAfter = time.Now().Add(r.templateIdle())
		r.mu.Unlock()
		return
	}
	if pages == nil {
		return // not on this platform
	}
	t.pages = pages
	t.cost = pages.mapped + templateOverhead
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, have := m.templates[key]; have || m.refs <= 0 || m.noTemplates || !r.templateFitsLocked(t.cost, budget) {
		pages.close()
		return
	}
	t.lastUsed = time.Now()
	if m.templates == nil {
		m.templates = map[templateKey]*memoryTemplate{}
	}
	m.templates[key] = t
	r.templateBytes += t.cost
	r.templateCount++
}

// dropTemplatesLocked frees the module's templates. Instances started from
// them keep their mappings. r.mu must be held.
func (r *Runtime) dropTemplatesLocked(m *Module) {
	for key := range m.templates {
		r.dropTemplateLocked(m, key)
	}
}

// stopTemplates drops the module's templates and keeps it from capturing
// more: a template could not be applied to one of its instances (its
// start function grew memory, say), and would fail again at every wake.
func (m *Module) stopTemplates() {
	r := m.runtime
	r.mu.Lock()
	defer r.mu.Unlock()
	m.noTemplates = true
	r.dropTemplatesLocked(m)
}

// TemplateBytes returns the memory charged to the templates of initialized
// memory (see Config.TemplateBudgetBytes): the pages of them that
// instances map, and templateOverhead each.
func (r *Runtime) TemplateBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.templateBytes
}

// errTemplate marks a template that could not be applied to a new
// instance, which then initializes instead.
var errTemplate = errors.New("applying the template of initialized memory")

// instantiateFrom starts a guest from a template of its initialized memory
// (template.go), without running its _initialize.
func (m *Module) instantiateFrom(ctx context.Context, cfg InstanceConfig, t *memoryTemplate) (*Instance, error) {
	defer m.runtime.releaseTemplate(t)
	inst, err := m.instantiate(ctx, cfg, 0, t.memory, true, t)
	if err != nil {
		return nil, err
	}
	if inst.memoryBuf == nil {
		inst.Close(ctx)
		return nil, fmt.Errorf("%w: the memory is not a mapping", errTemplate)
	}
	if err := inst.applyTemplate(t); err != nil {
		inst.Close(ctx)
		return nil, fmt.Errorf("%w: %w", errTemplate, err)
	}
	inst.memory.Store(t.memory)
	inst.fromTemplate = true
	return inst, nil
}

// applyTemplate puts t's memory and globals into a new instance that was
// not initialized. Its memory is either still scratch memory, mapped as
// the template when it grows to the template's size, or its own, which
// the template is mapped over.
func (i *Instance) applyTemplate(t *memoryTemplate) error {
	if err := i.memoryBuf.templateErr; err != nil {
		return err // the guest's start function grew its memory
	}
	mem := i.module.Memory()
	initial := uint64(mem.Size())
	if t.memory < initial {
		return fmt.Errorf("template of %d bytes is smaller than the module's minimum of %d", t.memory, initial)
	}
	mapped := false
	if t.memory > initial {
		// The grown pages are mapped over at once: they are not backed
		// first.
		mapped = i.memoryBuf.scratch != nil
		i.memoryBuf.lazy = true
		_, ok := mem.Grow(uint32((t.memory - initial) / wasmPage))
		i.memoryBuf.lazy = false
		if err := i.memoryBuf.templateErr; err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("template of %d bytes cannot be allocated (module maximum or limit)", t.memory)
		}
	}
	if !mapped {
		if size := uint64(mem.Size()); size != t.memory {
			return fmt.Errorf("memory of %d bytes for a template of %d", size, t.memory)
		}
		if err := i.memoryBuf.mapTemplate(t); err != nil {
			return err
		}
	}
	for k, g := range i.owner.globals {
		exported, ok := i.module.ExportedGlobal(g.exportName()).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("global %d is not a mutable global of the module", g.index)
		}
		exported.Set(t.globals[k])
	}
	return nil
}

// maxLiveMappedRuns bounds the runs of files (templates, snapshots)
// mapped into guests' memories at once. A run splits its guest's mapping,
// so it costs up to two mappings: the bound is a quarter of the mappings a
// process has by default (vm.max_map_count, 65,530), past which the Go
// runtime's own mappings, and so the server, would fail. It is checked
// before mapping: starts under way at once may pass it by their runs.
// Instances past the bound initialize, or read their snapshot.
const maxLiveMappedRuns = 8 << 10

// runsLeft says whether n more runs may be mapped into a guest's memory
// within maxLiveMappedRuns.
func (r *Runtime) runsLeft(n int) bool {
	return r.mappedRuns.Load()+int64(n) <= maxLiveMappedRuns
}

// templateIdle is how long a template must go unused to be dropped for
// another.
func (r *Runtime) templateIdle() time.Duration {
	if r.idleTemplate > 0 {
		return r.idleTemplate
	}
	return defaultTemplateIdle
}
