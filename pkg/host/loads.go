package host

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

const (
	// DefaultLoaders is how many WasmControllers load (fetch, compile,
	// start or stop) at once when the server is not told otherwise.
	DefaultLoaders = 4
	// DefaultLoadsPerNamespace is how many of those loads one namespace
	// may hold when the server is not told otherwise: a tenant whose
	// modules are slow to fetch delays its own controllers, not others'.
	DefaultLoadsPerNamespace = 2
)

// loadGate lets at most perNamespace loads of one namespace run at once;
// the namespace's other keys wait, in order, for one of them to end. A
// waiting key holds no loader: the loader that ends a load of the
// namespace takes the next one.
type loadGate struct {
	perNamespace int

	mu      sync.Mutex
	running map[string]int
	waiting map[string][]string
}

func newLoadGate(perNamespace int) *loadGate {
	if perNamespace < 1 {
		perNamespace = DefaultLoadsPerNamespace
	}
	return &loadGate{perNamespace: perNamespace, running: map[string]int{}, waiting: map[string][]string{}}
}

// admit says whether key may load now; if not, it waits for next.
func (g *loadGate) admit(key string) bool {
	ns := namespaceOf(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[ns] < g.perNamespace {
		g.running[ns]++
		return true
	}
	g.waiting[ns] = append(g.waiting[ns], key)
	return false
}

// next ends the load of key and returns the key of its namespace that
// waited longest, which takes its place, if any.
func (g *loadGate) next(key string) (string, bool) {
	ns := namespaceOf(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := g.waiting[ns]; len(w) > 0 {
		if g.waiting[ns] = w[1:]; len(g.waiting[ns]) == 0 {
			delete(g.waiting, ns)
		}
		return w[0], true
	}
	if g.running[ns]--; g.running[ns] == 0 {
		delete(g.running, ns)
	}
	return "", false
}

func namespaceOf(key string) string {
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	return ns
}

// runLoaders loads WasmControllers from the queue on the configured
// number of workers until the queue shuts down.
func (h *Host) runLoaders(ctx context.Context, workers *sync.WaitGroup) {
	n := h.cfg.Loaders
	if n < 1 {
		n = DefaultLoaders
	}
	for range n {
		workers.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for h.processNext(ctx) {
				}
			}, time.Second)
		})
	}
}

// processNext takes a key off the queue and loads it, and then the keys
// of its namespace that waited for it.
func (h *Host) processNext(ctx context.Context) bool {
	key, shutdown := h.queue.Get()
	if shutdown {
		return false
	}
	if !h.loads.admit(key) {
		return true // loaded by the loader that ends a load of its namespace
	}
	for more := true; more; key, more = h.loads.next(key) {
		h.load(ctx, key)
	}
	if h.queue.Len() == 0 {
		h.reclaimer.notifyQuiet() // loading allocates more than waking
	}
	return true
}

// load syncs one key, retrying it later if that failed. A key another
// replica owns is handed off instead.
func (h *Host) load(ctx context.Context, key string) {
	defer h.queue.Done(key)
	ctx, end, owned := h.shard.begin(ctx, key)
	defer end()
	if !owned {
		h.handOff(key)
		h.queue.Forget(key)
		return
	}
	if err := h.syncKey(ctx, key); err != nil {
		klog.InfoS("Loading WasmController failed; retrying", "wasmController", key, "error", err.Error())
		h.queue.AddRateLimited(key)
		return
	}
	h.queue.Forget(key)
}
