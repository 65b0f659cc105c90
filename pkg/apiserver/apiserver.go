// Package apiserver assembles wasm-apiserver: the generic API server serving
// the controllers.wasm.io group from its registry.
package apiserver

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	restclient "k8s.io/client-go/rest"
	"k8s.io/component-base/metrics"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/registry/wasmcontroller"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
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
	// CompiledModuleIdleUnload is how long a module may go without a
	// live guest before it gives up its compiled code
	// (runtime.Config.CompiledIdleUnload); 0 never.
	CompiledModuleIdleUnload time.Duration
	// CompiledModuleUnloaded, when set, is called after a module's
	// compiled code was unloaded for being idle
	// (runtime.Config.IdleUnloaded).
	CompiledModuleUnloaded func()
	// TemplateBudget bounds the memory of templates of guests'
	// initialized memory (runtime.Config.TemplateBudgetBytes); 0 turns
	// templates off.
	TemplateBudget int64
	// SpareInstanceIdle is how long an instance built ahead of a wake
	// waits for one (runtime.Config.SpareIdle); 0 builds none.
	SpareInstanceIdle time.Duration
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
	// Sharding, when set, runs only the WasmControllers this replica owns
	// among the replicas of its group; nil runs them all.
	Sharding *sharding.Options
}

// ModulesConfig bounds the modules fetched for the controllers.
type ModulesConfig struct {
	// StoreMaxBytes bounds the module store: past it, modules no controller
	// runs are removed, least recently used first. 0 means no bound.
	StoreMaxBytes int64
	// InsecureRegistries are registries spoken to over plain HTTP.
	InsecureRegistries []string
	// AllowLocalSources lets url sources and image registries name or
	// reach loopback and link-local addresses.
	AllowLocalSources bool
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
// With RunControllers it also builds what runs the WasmControllers, so
// that a state directory it cannot use fails here, before the server
// serves; the server starts them once it serves and stops them before it
// stops serving.
func (c completedConfig) New() (*Server, error) {
	// The metrics of the host and the parts it runs, served at /metrics
	// with the generic server's.
	reg := metrics.NewKubeRegistry()
	serveMetrics(c.GenericConfig.Config, reg)
	// One compiler checks wake rules at admission and compiles them in the
	// host, so both agree on what a rule may use.
	wakeRules, err := wakerule.NewCompiler(nil)
	if err != nil {
		return nil, fmt.Errorf("building the wake rule compiler: %w", err)
	}
	var running *controllerHost
	if c.ExtraConfig.RunControllers {
		if running, err = c.newControllerHost(wakeRules, reg); err != nil {
			return nil, err
		}
	}
	s, err := c.newServer(running, wakeRules)
	if err != nil && running != nil {
		running.close()
	}
	return s, err
}

// newServer builds the generic server with the API group, whose wake rules
// wakeRules checks, and, when running is set, the hooks that start and
// stop it.
func (c completedConfig) newServer(running *controllerHost, wakeRules *wakerule.Compiler) (*Server, error) {
	generic, err := c.GenericConfig.New("wasm-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("building generic API server: %w", err)
	}
	wcStorage, wcStatus, err := wasmcontroller.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter, c.ExtraConfig.Ceilings, wakeRules)
	if err != nil {
		return nil, err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(controllers.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	group.NegotiatedSerializer = newWithoutProtobuf(Codecs)
	group.VersionedResourcesStorageMap["v1alpha1"] = map[string]rest.Storage{
		"wasmcontrollers":        wcStorage,
		"wasmcontrollers/status": wcStatus,
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return nil, fmt.Errorf("installing API group %s: %w", controllers.GroupName, err)
	}
	if running != nil {
		if err := installHost(generic, running.host, hostStopTimeout, running.close); err != nil {
			return nil, err
		}
	}
	return &Server{GenericAPIServer: generic}, nil
}
