package proxy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// InformerKey names one shared informer: a resource in one namespace, or in
// all namespaces when Namespace is empty.
type InformerKey struct {
	Resource  schema.GroupVersionResource
	Namespace string
}

func (k InformerKey) String() string {
	if k.Namespace == "" {
		return k.Resource.String()
	}
	return k.Resource.String() + " in " + k.Namespace
}

// InformerPool runs one informer per resource and scope, however many
// controllers watch it, and stops it when the last one lets go. Close stops
// them all and waits for them.
type InformerPool struct {
	client dynamic.Interface
	// running counts the informers' goroutines, released ones included,
	// until they return.
	running sync.WaitGroup

	mu        sync.Mutex
	informers map[InformerKey]*sharedInformer
	closed    bool
}

type sharedInformer struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	refs     int
	// size counts what the cache holds, for metrics.
	size cacheSize
}

// NewInformerPool returns a pool that watches through client.
func NewInformerPool(client dynamic.Interface) *InformerPool {
	return &InformerPool{client: client, informers: map[InformerKey]*sharedInformer{}}
}

// Acquire returns the informer for key, starting it on first use. Each
// Acquire must be paired with a Release.
//
// # Notes
//
//   - After Close, the informer returned is never started: it does not
//     sync, and waiting for it times out.
func (p *InformerPool) Acquire(key InformerKey) cache.SharedIndexInformer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.informers[key]; ok {
		s.refs++
		return s.informer
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(p.client, key.Resource, key.Namespace, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil).Informer()
	// Guests never see managedFields; keeping them would double the cache.
	if err := inf.SetTransform(stripManagedFields); err != nil {
		klog.ErrorS(err, "Setting informer transform", "informer", key)
	}
	if p.closed {
		return inf
	}
	s := &sharedInformer{informer: inf, refs: 1}
	if _, err := inf.AddEventHandler(&s.size); err != nil {
		klog.ErrorS(err, "Counting the informer's cache", "informer", key)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	p.running.Go(func() { inf.RunWithContext(ctx) })
	p.informers[key] = s
	klog.V(2).InfoS("Started shared informer", "informer", key)
	return inf
}

// Release drops one reference to the informer for key; the last stops it
// and frees its cache.
func (p *InformerPool) Release(key InformerKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.informers[key]
	if !ok {
		return
	}
	s.refs--
	if s.refs > 0 {
		return
	}
	s.cancel()
	delete(p.informers, key)
	klog.V(2).InfoS("Stopped shared informer", "informer", key)
}

// informer returns the running informer for key, or nil when none runs.
func (p *InformerPool) informer(key InformerKey) cache.SharedIndexInformer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.informers[key]; ok {
		return s.informer
	}
	return nil
}

// Close stops every informer, whatever its references, and waits until
// their goroutines have returned. The pool starts no informer afterwards.
func (p *InformerPool) Close() {
	p.mu.Lock()
	p.closed = true
	for key, s := range p.informers {
		s.cancel()
		delete(p.informers, key)
	}
	p.mu.Unlock()
	p.running.Wait()
}

// Len returns how many informers run.
func (p *InformerPool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.informers)
}

// WaitForSync waits until inf has listed, or until timeout.
func WaitForSync(ctx context.Context, inf cache.SharedIndexInformer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("cache did not sync within %s", timeout)
	}
	return nil
}

func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
