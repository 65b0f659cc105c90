package modules

import "sync"

// downloads lets one fetch of a blob run at a time per digest: a second
// controller that needs the same module while it downloads waits, then
// finds it in the store, so that a module is fetched once.
type downloads struct {
	mu    sync.Mutex
	locks map[string]*downloadLock
}

type downloadLock struct {
	sync.Mutex
	waiters int
}

// lock takes the lock of digest; the returned function releases it.
func (d *downloads) lock(digest string) (unlock func()) {
	d.mu.Lock()
	if d.locks == nil {
		d.locks = map[string]*downloadLock{}
	}
	l := d.locks[digest]
	if l == nil {
		l = &downloadLock{}
		d.locks[digest] = l
	}
	l.waiters++
	d.mu.Unlock()

	l.Lock()
	return func() {
		l.Unlock()
		d.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(d.locks, digest)
		}
		d.mu.Unlock()
	}
}
