package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
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

// errOverTemplateBudget says that a template does not fit what is left of
// the runtime's budget.
var errOverTemplateBudget = errors.New("over the template budget")

// templateKey identifies what initialization depends on besides the
// module: the guest's argument (its name), its whole environment, and the
// reconciler it selected right after (a bundle's, kept in its memory).
type templateKey [sha256.Size]byte

// newTemplateKey hashes an instance's name, reconciler and environment.
func newTemplateKey(cfg InstanceConfig) templateKey {
	h := sha256.New()
	h.Write([]byte(cfg.Name))
	h.Write([]byte{0})
	h.Write([]byte(cfg.Reconciler))
	h.Write([]byte{0})
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(cfg.Env[k]), cfg.Env[k])
	}
	var key templateKey
	copy(key[:], h.Sum(nil))
	return key
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

// template returns the module's template for key, or nil.
func (m *Module) template(key templateKey) *memoryTemplate {
	r := m.runtime
	r.mu.Lock()
	defer r.mu.Unlock()
	t := m.templates[key]
	if t != nil {
		t.lastUsed = time.Now()
	}
	return t
}

// makeTemplateRoomLocked drops templates unused for templateIdle, least
// recently used first, until need bytes fit the budget or none is left
// to drop. r.mu must be held.
func (r *Runtime) makeTemplateRoomLocked(need, budget int64) {
	for r.templateBytes+need > budget {
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
			return
		}
		t := owner.templates[oldest]
		r.templateBytes -= t.pages.resident
		t.pages.close()
		delete(owner.templates, oldest)
	}
}

// captureTemplate keeps the memory and globals of inst, fresh from its
// initialization, as the module's template for key, unless the module has
// one already, cannot be snapshotted, or the runtime's template budget is
// spent. Failing to capture costs only the saving.
func (m *Module) captureTemplate(key templateKey, inst *Instance) {
	r := m.runtime
	budget := r.templateBudget()
	if budget < 0 || m.snapshotErr != nil || inst.memoryBuf == nil || !inst.memoryBuf.mapped {
		return
	}
	r.mu.Lock()
	_, have := m.templates[key]
	if !have {
		r.makeTemplateRoomLocked(int64(inst.module.Memory().Size()), budget)
	}
	left := budget - r.templateBytes
	r.mu.Unlock()
	if left <= 0 || have {
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
	mem := inst.module.Memory()
	t.memory = uint64(mem.Size())
	buf, ok := mem.Read(0, mem.Size())
	if !ok {
		return
	}
	pages, err := newTemplatePages(buf, left)
	if errors.Is(err, errOverTemplateBudget) {
		return
	}
	if err != nil {
		klog.V(2).InfoS("Capturing a module's initialized memory failed; its instances initialize", "digest", m.Digest, "err", err)
		return
	}
	if pages == nil {
		return // not on this platform
	}
	t.pages = pages
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, have := m.templates[key]; !have {
		r.makeTemplateRoomLocked(pages.resident, budget)
	}
	if _, have := m.templates[key]; have || m.refs <= 0 || r.templateBytes+pages.resident > budget {
		pages.close()
		return
	}
	t.lastUsed = time.Now()
	if m.templates == nil {
		m.templates = map[templateKey]*memoryTemplate{}
	}
	m.templates[key] = t
	r.templateBytes += pages.resident
}

// dropTemplatesLocked frees the module's templates. Instances started from
// them keep their mappings. r.mu must be held.
func (r *Runtime) dropTemplatesLocked(m *Module) {
	for key, t := range m.templates {
		r.templateBytes -= t.pages.resident
		t.pages.close()
		delete(m.templates, key)
	}
}

// TemplateBytes returns the memory held by the templates of initialized
// memory (see Config.TemplateBudgetBytes): the pages of them that are not
// zero.
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
	inst, err := m.instantiate(ctx, cfg, 0, t.memory, t)
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
	return inst, nil
}

// applyTemplate puts t's memory and globals into a new instance that was
// not initialized. Its memory is either still scratch memory, mapped as
// the template when it grows to the template's size, or its own, which
// the template is mapped over.
func (i *Instance) applyTemplate(t *memoryTemplate) error {
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
		buf, ok := mem.Read(0, uint32(t.memory))
		if !ok {
			return fmt.Errorf("template of %d bytes cannot be read back", t.memory)
		}
		if err := t.pages.mapOver(buf); err != nil {
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

// templateIdle is how long a template must go unused to be dropped for
// another.
func (r *Runtime) templateIdle() time.Duration {
	if r.idleTemplate > 0 {
		return r.idleTemplate
	}
	return defaultTemplateIdle
}
