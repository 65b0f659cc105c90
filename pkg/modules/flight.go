package modules

import (
	"context"
	"sync"
)

// downloads lets one download run at a time per source: a second controller
// that needs the same module from the same source while it downloads waits,
// then finds it in the store, so that a module is fetched once.
//
// A flight is keyed by the source (the URL, or the image's repository) and
// the digest, never by the digest alone: a fetch waits only on a download it
// would have made itself, so a tenant's slow server cannot hold up another
// tenant's fetch of the same bytes from elsewhere. A waiter gives up when its
// own context ends, whatever the download it waits on does.
type downloads struct {
	mu      sync.Mutex
	flights map[string]*flight
}

// flight is held by the one download of its key; waiters queue on it.
type flight struct {
	token   chan struct{} // holds one value while the flight is free
	waiters int
}

// lock takes the flight of key, or returns ctx's error when ctx ends first.
// The returned function releases it.
func (d *downloads) lock(ctx context.Context, key string) (unlock func(), err error) {
	d.mu.Lock()
	if d.flights == nil {
		d.flights = map[string]*flight{}
	}
	fl := d.flights[key]
	if fl == nil {
		fl = &flight{token: make(chan struct{}, 1)}
		fl.token <- struct{}{}
		d.flights[key] = fl
	}
	fl.waiters++
	d.mu.Unlock()

	done := func() {
		d.mu.Lock()
		if fl.waiters--; fl.waiters == 0 {
			delete(d.flights, key)
		}
		d.mu.Unlock()
	}
	select {
	case <-fl.token:
		return func() { fl.token <- struct{}{}; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
