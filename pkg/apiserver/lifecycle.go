package apiserver

import (
	"context"
	"net/http"
	"sync"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/klog/v2"
)

// hostStopTimeout bounds how long the server, once told to stop, waits
// for the host to stop while it still serves. The host bounds each of its
// own waits; this bounds their sum within Kubernetes' default grace period
// of 30 s.
const hostStopTimeout = 25 * time.Second

// Names of the hooks and the readyz check that tie the host to the server.
const (
	startHookName = "start-wasm-controllers"
	stopHookName  = "stop-wasm-controllers"
	readyzName    = "wasm-controllers"
)

// hostRunner is the part of the host the server's lifecycle drives.
type hostRunner interface {
	// Start runs the host until Stop or until ctx is done.
	Start(ctx context.Context)
	// Stop stops the host and waits for it, at most until ctx is done.
	Stop(ctx context.Context) error
	// Ready says what the host waits for, if anything.
	Ready() error
}

// installHost ties h to the server: a post-start hook starts it once the
// server serves; a pre-shutdown hook stops it, waiting at most
// stopTimeout, while the server still serves, so that the host's last
// status writes reach it; a readyz check reports it. release frees what
// the host runs on when the server is destroyed, unless the host did not
// stop in time.
func installHost(s *genericapiserver.GenericAPIServer, h hostRunner, stopTimeout time.Duration, release func()) error {
	var mu sync.Mutex
	leftRunning := false // the host did not stop in time
	if err := s.AddPostStartHook(startHookName, func(hook genericapiserver.PostStartHookContext) error {
		h.Start(hook.Context)
		return nil
	}); err != nil {
		return err
	}
	if err := s.AddPreShutdownHook(stopHookName, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		start := time.Now()
		err := h.Stop(ctx)
		mu.Lock()
		defer mu.Unlock()
		leftRunning = err != nil
		if err != nil {
			// Not an error of the server's stop: the guests that still
			// run end with the process.
			klog.InfoS("WasmControllers did not stop in time; leaving them", "waited", time.Since(start), "reason", err.Error())
			return nil
		}
		klog.InfoS("Stopped the WasmControllers", "took", time.Since(start))
		return nil
	}); err != nil {
		return err
	}
	if err := s.AddReadyzChecks(healthz.NamedCheck(readyzName, func(*http.Request) error { return h.Ready() })); err != nil {
		return err
	}
	var once sync.Once
	s.RegisterDestroyFunc(func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if !leftRunning {
				release()
			}
		})
	})
	return nil
}
