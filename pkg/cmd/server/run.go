package server

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/embeddedetcd"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// When the server drops the pages of its executable that it no longer runs,
// and gives back its heap's free memory (releaseExecutablePagesEvery,
// idleMemoryRelease): first once it has started, been asked for what it
// builds lazily (its OpenAPI, discovery) and been quiet for a while, then
// periodically while it is quiet.
const (
	executablePagesFirstRelease  = 30 * time.Second
	executablePagesReleasePeriod = 10 * time.Minute
)

// Run starts the embedded etcd when one is used, then serves until ctx is
// done, then stops etcd after the server has shut down.
func Run(ctx context.Context, o *Options) error {
	var etcdURL string
	if o.embeddedEtcd {
		// The serving port first: the embedded etcd listens on ports the
		// kernel picks, which on a restart could be the one the server
		// just released.
		if err := o.listen(); err != nil {
			return err
		}
		etcd, err := embeddedetcd.Start(ctx, embeddedetcd.Config{
			StateDir: o.StateDir, DataDir: filepath.Join(o.StateDir, "etcd"), StartFresh: o.EmbeddedEtcdStartFresh,
		})
		if err != nil {
			// No listener with --secure-port=0.
			if ln := o.Recommended.SecureServing.Listener; ln != nil {
				_ = ln.Close()
			}
			return err
		}
		defer etcd.Close()
		etcdURL = etcd.ClientURL
	}
	cfg, err := o.Config(etcdURL)
	if err != nil {
		return err
	}
	releaseSoon := make(chan struct{}, 1)
	cfg.ExtraConfig.CompiledModuleUnloaded = func() {
		select {
		case releaseSoon <- struct{}{}:
		default:
		}
	}
	srv, err := cfg.Complete().New()
	if err != nil {
		return err
	}
	// The releases start once the server has started and stop when Run
	// returns: the hook's context is done only once a graceful shutdown
	// begins, which a failing server may skip. The goroutine is started
	// here, not by the hook, so that the wait below never races its start.
	releaseCtx, stopReleasing := context.WithCancel(ctx)
	started := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopReleasing()
	wg.Go(func() {
		select {
		case <-releaseCtx.Done():
			return
		case <-started:
		}
		releaseExecutablePagesEvery(releaseCtx, executablePagesFirstRelease, executablePagesReleasePeriod,
			processCPUTime, idleMemoryRelease(releaseExecutablePages, runtime.ReleaseCodePages), releaseSoon)
	})
	if err := srv.GenericAPIServer.AddPostStartHook("release-executable-pages",
		func(genericapiserver.PostStartHookContext) error {
			close(started)
			return nil
		}); err != nil {
		return err
	}
	klog.InfoS("Starting wasm-apiserver", "stateDir", o.StateDir, "embeddedEtcd", o.embeddedEtcd, "standalone", o.Standalone,
		"maxControllerMemory", o.Ceilings.MaxControllerMemory, "maxReconcileTimeout", o.Ceilings.MaxReconcileTimeout,
		"maxConcurrentReconciles", o.Ceilings.MaxConcurrentReconciles, "maxModuleSize", o.Ceilings.MaxModuleSize)
	return srv.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}
