package main

import (
	"context"
	"path/filepath"
	"strconv"
)

// bundleGuest is the module of the bundle side, test/guests/bundle10: the
// replicator under bundleReconcilers names, replicator-0 … replicator-9.
const (
	bundleGuest       = "bundle10"
	bundleReconcilers = 10
)

// bundleModule is the spec.module of controller i of the bundle side: the
// one bundle, and its reconcilers drawn round-robin.
func bundleModule(module map[string]any, i int) map[string]any {
	out := make(map[string]any, len(module)+1)
	for k, v := range module {
		out[k] = v
	}
	out["reconciler"] = "replicator-" + strconv.Itoa(i%bundleReconcilers)
	return out
}

// measureBundle runs n controllers drawn from the ten reconcilers of one
// module: suspended, the latency of guests closed after each reconcile,
// and busy with the default suspend policy.
func (b *bench) measureBundle(ctx context.Context, r *result) error {
	n := r.n
	name := "bundle-" + strconv.Itoa(n)
	srv, err := b.startWasmSide(ctx, &r.bundle, n, name, func(i int) map[string]any {
		return bundleModule(b.modules.module(bundleGuest, 0), i)
	})
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := srv.profile(ctx, "heap", filepath.Join(b.profiles, "heap-"+name+".pb.gz"), map[string]string{"gc": "1"}); err != nil {
		logf("n=%d: no heap profile: %v", n, err)
	}
	logf("n=%d: latency, bundle guests closed after each reconcile", n)
	if r.bundleClosed, err = writeToCopy(ctx, b.cluster.client, n, latencySamples, func(int) string { return srv.proc.log.Name() }); err != nil {
		return err
	}
	logf("n=%d: busy bundle, policy Idle (the default)", n)
	return b.busyWasm(ctx, srv, &r.bundle, n, name, "Idle")
}
