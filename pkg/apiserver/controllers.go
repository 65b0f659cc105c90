package apiserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/component-base/metrics"

	clientset "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/host"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// controllerHost is what runs the WasmControllers: the guests' runtime,
// the module store and the host. The server builds it with itself, starts
// it once it serves and stops it before it stops serving.
type controllerHost struct {
	runtime *wasmruntime.Runtime
	store   *modules.Store
	host    *host.Host
}

// newControllerHost builds the runtime, the store and the host on the
// state directory, which it creates; the host compiles wake rules with
// wakeRules, the compiler admission checks them with, and registers its
// metrics on reg.
//
// # Errors
//
// A state directory that cannot be used, or a config without a loopback
// client, fails here; what was built is closed again.
func (c completedConfig) newControllerHost(wakeRules *wakerule.Compiler, reg metrics.KubeRegistry) (*controllerHost, error) {
	x := c.ExtraConfig
	if c.GenericConfig.LoopbackClientConfig == nil {
		return nil, errors.New("running controllers needs the server's loopback client config")
	}
	loopback, err := clientset.NewForConfig(c.GenericConfig.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	snapshots := filepath.Join(x.StateDir, "snapshots")
	if err := os.MkdirAll(snapshots, 0o700); err != nil {
		return nil, fmt.Errorf("state directory[%s]: %w", x.StateDir, err)
	}
	store, err := modules.OpenStore(filepath.Join(x.StateDir, "modules"), x.Modules.StoreMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("state directory[%s]: %w", x.StateDir, err)
	}
	rt, err := wasmruntime.New(context.Background(), wasmruntime.Config{
		CacheDir: filepath.Join(x.StateDir, "compilation-cache"), CompiledBudgetBytes: x.CompiledModuleBudget,
		CompiledIdleUnload: x.CompiledModuleIdleUnload, IdleUnloaded: x.CompiledModuleUnloaded,
		TemplateBudgetBytes: x.TemplateBudget, SpareIdle: x.SpareInstanceIdle, Metrics: reg,
		// Templates are files there, whose page cache the kernel
		// reclaims while no guest maps them, as it does snapshots'.
		TemplateDir: filepath.Join(x.StateDir, "templates"),
		// Snapshots store the pages that differ from their module's
		// memory image, kept once per module next to them.
		ImageDir: filepath.Join(x.StateDir, "images"),
		// The bytes an evicted module compiles again from, when its kept
		// copy is lost: the store keeps every module a controller runs.
		Source: func(_ context.Context, digest string) ([]byte, error) {
			wasm, lease, err := store.Acquire(digest)
			if err != nil {
				return nil, err
			}
			lease.Release()
			return wasm, nil
		}})
	if err != nil {
		return nil, fmt.Errorf("state directory[%s]: %w", x.StateDir, err)
	}
	ch := &controllerHost{runtime: rt, store: store}
	ch.host, err = host.New(host.Config{Runtime: rt, Controllers: loopback, Cluster: x.Cluster,
		MaxRunningGuests: x.MaxRunningGuests, Ceilings: x.Ceilings, WakeRules: wakeRules, SnapshotDir: snapshots,
		Modules: modules.FetcherConfig{Store: store, MaxModuleBytes: x.Ceilings.ModuleBytes,
			InsecureRegistries: x.Modules.InsecureRegistries, AllowLocalSources: x.Modules.AllowLocalSources},
		Metrics: reg, CollectGarbage: runtime.GC, Sharding: x.Sharding})
	if err != nil {
		ch.close()
		return nil, err
	}
	return ch, nil
}

// close releases the runtime, once the host no longer runs; the store
// holds nothing to release.
func (ch *controllerHost) close() {
	_ = ch.runtime.Close(context.Background())
}
