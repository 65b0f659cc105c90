// Package apiserver assembles wasm-apiserver: the generic API server serving
// the controllers.wasm.io group from its registry.
package apiserver

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	restclient "k8s.io/client-go/rest"
	"k8s.io/component-base/metrics"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
	clientset "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/host"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/registry/wasmcontroller"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// ExtraConfig holds what wasm-apiserver adds to the generic server's config.
type ExtraConfig struct {
	// RunControllers runs the WasmControllers; false serves the API only.
	RunControllers bool
	// MaxRunningGuests bounds the reconciles running at once.
	MaxRunningGuests int
	// CompiledModuleBudget bounds the estimated memory of compiled guest
	// code, in bytes; 0 is no bound.
	CompiledModuleBudget int64
	// StateDir holds the compiled-code cache and the guests' snapshots.
	StateDir string
	// Cluster is the target cluster guests reconcile; nil when there is none.
	Cluster *restclient.Config
	// Modules bounds the modules fetched for the controllers; they are
	// stored under StateDir/modules.
	Modules ModulesConfig
	// Ceilings bound what one WasmController may ask for: admission refuses
	// limits over them, and its ModuleBytes bounds the modules fetched.
	Ceilings validation.Ceilings
}

// ModulesConfig bounds the modules fetched for the controllers.
type ModulesConfig struct {
	// StoreMaxBytes bounds the module store: past it, modules no controller
	// runs are removed, least recently used first. 0 means no bound.
	StoreMaxBytes int64
	// InsecureRegistries are registries spoken to over plain HTTP.
	InsecureRegistries []string
	// AllowLocalURLHosts lets url sources name loopback and link-local
	// hosts.
	AllowLocalURLHosts bool
}

// Config is the configuration of the server before it is completed.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

type completedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   *ExtraConfig
}

// CompletedConfig is a Config after Complete; only it can build a server.
type CompletedConfig struct {
	*completedConfig
}

// Server is a wasm-apiserver ready to run.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// Complete fills in the fields not set. It mutates the receiver.
func (cfg *Config) Complete() CompletedConfig {
	return CompletedConfig{&completedConfig{
		GenericConfig: cfg.GenericConfig.Complete(),
		ExtraConfig:   &cfg.ExtraConfig,
	}}
}

// New builds the server and installs the controllers.wasm.io API group.
func (c completedConfig) New() (*Server, error) {
	// The metrics of the host and the parts it runs, served at /metrics
	// with the generic server's.
	reg := metrics.NewKubeRegistry()
	serveMetrics(c.GenericConfig.Config, reg)
	generic, err := c.GenericConfig.New("wasm-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("building generic API server: %w", err)
	}
	// One compiler checks wake rules at admission and compiles them in the
	// host, so both agree on what a rule may use.
	wakeRules, err := wakerule.NewCompiler(nil)
	if err != nil {
		return nil, fmt.Errorf("building the wake rule compiler: %w", err)
	}
	wcStorage, wcStatus, err := wasmcontroller.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter, c.ExtraConfig.Ceilings, wakeRules)
	if err != nil {
		return nil, err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(controllers.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	group.VersionedResourcesStorageMap["v1alpha1"] = map[string]rest.Storage{
		"wasmcontrollers":        wcStorage,
		"wasmcontrollers/status": wcStatus,
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return nil, fmt.Errorf("installing API group %s: %w", controllers.GroupName, err)
	}
	if c.ExtraConfig.RunControllers {
		run := func(hook genericapiserver.PostStartHookContext) error { return c.runControllers(hook, wakeRules, reg) }
		if err := generic.AddPostStartHook("run-wasm-controllers", run); err != nil {
			return nil, err
		}
	}
	return &Server{GenericAPIServer: generic}, nil
}

// runControllers starts the host that runs every WasmController once the
// server serves, and stops it with the server. The host compiles wake rules
// with wakeRules, the compiler admission checks them with, and registers its
// metrics on reg.
func (c completedConfig) runControllers(hook genericapiserver.PostStartHookContext, wakeRules *wakerule.Compiler, reg metrics.KubeRegistry) error {
	rt, err := wasmruntime.New(hook, wasmruntime.Config{CacheDir: filepath.Join(c.ExtraConfig.StateDir, "compilation-cache"),
		CompiledBudgetBytes: c.ExtraConfig.CompiledModuleBudget})
	if err != nil {
		return err
	}
	loopback, err := clientset.NewForConfig(hook.LoopbackClientConfig)
	if err != nil {
		return err
	}
	m := c.ExtraConfig.Modules
	store, err := modules.OpenStore(filepath.Join(c.ExtraConfig.StateDir, "modules"), m.StoreMaxBytes)
	if err != nil {
		_ = rt.Close(context.Background())
		return err
	}
	h, err := host.New(host.Config{Runtime: rt, Controllers: loopback, Cluster: c.ExtraConfig.Cluster,
		MaxRunningGuests: c.ExtraConfig.MaxRunningGuests, Ceilings: c.ExtraConfig.Ceilings, WakeRules: wakeRules, SnapshotDir: filepath.Join(c.ExtraConfig.StateDir, "snapshots"),
		Modules: modules.FetcherConfig{Store: store, MaxModuleBytes: c.ExtraConfig.Ceilings.ModuleBytes, InsecureRegistries: m.InsecureRegistries,
			AllowLocalURLHosts: m.AllowLocalURLHosts},
		Metrics: reg, CollectGarbage: runtime.GC})
	if err != nil {
		_ = rt.Close(context.Background())
		return err
	}
	go func() {
		h.Run(hook)
		_ = rt.Close(context.Background())
	}()
	return nil
}
