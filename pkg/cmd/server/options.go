// Package server holds wasm-apiserver's command line: its options, how they
// are completed and validated, and how they become a running server.
package server

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"
	netutils "k8s.io/utils/net"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apiserver"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/embeddedetcd"
	generatedopenapi "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/openapi"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/host"
)

const etcdPathPrefix = "/registry/controllers.wasm.io"

func init() {
	// The logging flags consult feature gates of their own.
	utilruntime.Must(logsapi.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
}

// Options are everything the command line sets.
type Options struct {
	Recommended *genericoptions.RecommendedOptions
	Logs        *logsapi.LoggingConfiguration

	// StateDir holds the embedded etcd's data, generated certificates and,
	// with Standalone, the credential and kubeconfig.
	StateDir string
	// EmbeddedEtcdStartFresh lets the embedded etcd start empty although
	// StateDir shows an earlier run whose etcd data is missing.
	EmbeddedEtcdStartFresh bool
	// Standalone serves on loopback with a generated credential instead of
	// delegating authentication and authorization to a cluster.
	Standalone bool
	// PrintVersion prints the version and exits.
	PrintVersion bool
	// RunControllers runs the WasmControllers; false serves the API only.
	RunControllers bool
	// MaxRunningGuests bounds the reconciles running at once, across every
	// controller.
	MaxRunningGuests int
	// CompiledModuleBudget bounds the estimated memory of compiled guest
	// code, such as "256Mi"; "0" is no bound; empty follows the memory the
	// server is given (compiledBudget).
	CompiledModuleBudget string
	// CompiledModuleIdleUnload is how long a module may have no guest
	// in memory before it gives up its compiled code; 0 keeps it until
	// the budget needs the room.
	CompiledModuleIdleUnload time.Duration
	// TemplateBudget bounds the memory of templates of guests' initialized
	// memory, such as "64Mi"; "0" turns templates off; empty follows the
	// memory the server is given (templateBudget).
	TemplateBudget string
	// SpareInstanceIdle is how long an instance built ahead of a wake
	// waits for one before it is closed; 0 builds none.
	SpareInstanceIdle time.Duration
	// Modules bounds the modules fetched for the controllers.
	Modules apiserver.ModulesConfig
	// Ceilings bound what one WasmController may ask for.
	Ceilings *CeilingOptions
	// Sharding spreads the WasmControllers over the server's replicas.
	Sharding *ShardingOptions
	// Shutdown lets replicas be replaced without failing requests.
	Shutdown *ShutdownOptions

	// embeddedEtcd is set by Complete when no --etcd-servers were given.
	embeddedEtcd bool
}

// NewOptions returns the options with their defaults.
func NewOptions() *Options {
	o := &Options{
		Recommended: genericoptions.NewRecommendedOptions(etcdPathPrefix,
			apiserver.Codecs.LegacyCodec(v1alpha1.SchemeGroupVersion)),
		Logs:                     logsapi.NewLoggingConfiguration(),
		StateDir:                 "/var/lib/wasm-apiserver",
		RunControllers:           true,
		MaxRunningGuests:         host.DefaultMaxRunningGuests,
		CompiledModuleIdleUnload: DefaultCompiledModuleIdleUnload,
		SpareInstanceIdle:        DefaultSpareInstanceIdle,
		Modules:                  apiserver.ModulesConfig{StoreMaxBytes: 2 << 30},
		Ceilings:                 NewCeilingOptions(),
		Sharding:                 NewShardingOptions(),
		Shutdown:                 NewShutdownOptions(),
	}
	o.Recommended.Etcd.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(
		v1alpha1.SchemeGroupVersion, schema.GroupKind{Group: v1alpha1.GroupName})
	o.Recommended.SecureServing.BindPort = 8443
	o.Recommended.SecureServing.ServerCert.PairName = "wasm-apiserver"
	// Generated certificates go under --state-dir unless --cert-dir says otherwise.
	o.Recommended.SecureServing.ServerCert.CertDirectory = ""
	return o
}

// Flags returns the flags, grouped for --help.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("wasm-apiserver")
	fs.StringVar(&o.StateDir, "state-dir", o.StateDir,
		"Directory for the embedded etcd's data, generated certificates, module caches and snapshots.")
	fs.BoolVar(&o.EmbeddedEtcdStartFresh, embeddedetcd.StartFreshFlag, o.EmbeddedEtcdStartFresh,
		"Start the embedded etcd empty although --state-dir shows an earlier run whose etcd data (<state-dir>/etcd) is "+
			"missing. Without it the server refuses to start then, as it would lose every object and delete the "+
			"controllers' snapshots. Deletes nothing itself; to start over from a damaged database, remove "+
			"<state-dir>/etcd first.")
	fs.BoolVar(&o.Standalone, "standalone", o.Standalone,
		"Serve on a loopback address with a generated bearer token and self-signed certificate, without a cluster "+
			"for authentication and authorization; writes <state-dir>/kubeconfig. For trying the server out.")
	fs.BoolVar(&o.RunControllers, "run-controllers", o.RunControllers,
		"Run the WasmControllers. With false the server only serves the API.")
	fs.IntVar(&o.MaxRunningGuests, "max-running-guests", o.MaxRunningGuests,
		"Most reconciles running at once across every WasmController, each in a guest instance of its own. "+
			"Controllers with queued work take turns of a bounded number of keys each, so a busy one cannot starve the others.")
	fs.StringVar(&o.CompiledModuleBudget, "compiled-module-budget", o.CompiledModuleBudget,
		"Most memory the compiled code of guest modules may take, estimated (a quantity such as 256Mi; 0 for no bound). "+
			"Over it, modules with no instance in memory first have their native code dropped from memory, which their "+
			"next wake maps back from a file under --state-dir; if that is not enough they give up their code, least "+
			"recently woken first, and reload it from the disk cache under --state-dir when next woken. Default: half of the server's memory limit "+
			"(its cgroup's), or 256Mi without one.")
	fs.DurationVar(&o.CompiledModuleIdleUnload, "compiled-module-idle-unload", o.CompiledModuleIdleUnload,
		"How long a module may go without a guest in memory (every controller running it suspended) before it "+
			"gives up its compiled code, whatever the budget; its next wake loads it again from the disk cache "+
			"(tens of milliseconds for a small guest). 0 keeps compiled code until --compiled-module-budget needs "+
			"the room.")
	fs.StringVar(&o.TemplateBudget, "template-budget", o.TemplateBudget,
		"Most memory kept as templates of guests' memory right after initialization (a quantity such as 64Mi; 0 turns "+
			"templates off). A guest started afresh maps its template copy-on-write instead of initializing again. "+
			"Templates are files under --state-dir, whose page cache the kernel reclaims while no guest maps them. "+
			"Default: an eighth of the server's memory limit (its cgroup's), at most 64Mi.")
	fs.DurationVar(&o.SpareInstanceIdle, "spare-instance-idle", o.SpareInstanceIdle,
		"How long an instance of a module built ahead of the next wake waits for it. A guest suspended leaves one "+
			"such spare, built once its reconcile is over; the next wake of a controller of the module with the same "+
			"environment and memory limit takes it instead of instantiating the module. A server keeps at most 64 "+
			"spares, 0.15 MB of heap each for a small Go guest, 1.2 MB for a client-go one. 0 builds none.")
	fs.BoolVar(&o.PrintVersion, "version", false, "Print the version and exit.")

	mfs := fss.FlagSet("modules")
	mfs.Int64Var(&o.Modules.StoreMaxBytes, "module-store-max-bytes", o.Modules.StoreMaxBytes,
		"Bound of the module store under <state-dir>/modules, which keeps the modules pulled from images and URLs. "+
			"Past it, modules no controller runs are removed, least recently used first. 0 means no bound.")
	mfs.StringSliceVar(&o.Modules.InsecureRegistries, "insecure-registry", o.Modules.InsecureRegistries,
		"Registry (host:port) to pull module images from over plain HTTP; it may be on the server's own node. "+
			"Loopback registries (localhost, 127.0.0.1) always are spoken to over plain HTTP, and are refused unless "+
			"named here or allowed by --allow-local-module-sources. Repeat or separate with commas.")
	mfs.BoolVar(&o.Modules.AllowLocalSources, "allow-local-module-sources", o.Modules.AllowLocalSources,
		"Let spec.module.url and spec.module.image name or reach the server's own node or a link-local address "+
			"(localhost, 127.0.0.0/8, ::1, 169.254.0.0/16, fe80::/10). Off by default: a tenant could otherwise make the "+
			"server speak to services only it can reach, such as its embedded etcd or a cloud metadata endpoint. "+
			"A registry named with --insecure-registry may be local without it. For development and tests.")
	mfs.BoolVar(&o.Modules.AllowLocalSources, "allow-local-module-urls", o.Modules.AllowLocalSources,
		"Deprecated name of --allow-local-module-sources.")
	_ = mfs.MarkDeprecated("allow-local-module-urls", "use --allow-local-module-sources, which covers registries too")

	o.Ceilings.AddFlags(&fss)
	o.Sharding.AddFlags(&fss)
	o.Shutdown.AddFlags(&fss)

	r := o.Recommended
	r.Etcd.AddFlags(fss.FlagSet("etcd"))
	r.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	r.Authentication.AddFlags(fss.FlagSet("authentication"))
	r.Authorization.AddFlags(fss.FlagSet("authorization"))
	r.Audit.AddFlags(fss.FlagSet("auditing"))
	r.Features.AddFlags(fss.FlagSet("features"))
	r.CoreAPI.AddFlags(fss.FlagSet("target cluster"))
	r.Admission.AddFlags(fss.FlagSet("admission"))
	r.EgressSelector.AddFlags(fss.FlagSet("egress selector"))
	r.Traces.AddFlags(fss.FlagSet("traces"))
	utilfeature.DefaultMutableFeatureGate.AddFlag(fss.FlagSet("features"))
	logsapi.AddFlags(o.Logs, fss.FlagSet("logging"))
	return fss
}

// Complete fills in what the flags leave to be derived.
func (o *Options) Complete() error {
	o.embeddedEtcd = len(o.Recommended.Etcd.StorageConfig.Transport.ServerList) == 0
	if o.Recommended.SecureServing.ServerCert.CertDirectory == "" {
		o.Recommended.SecureServing.ServerCert.CertDirectory = filepath.Join(o.StateDir, "certificates")
	}
	if o.Standalone {
		// Nothing to delegate to: requests are authenticated with the
		// generated token and the target cluster is optional.
		r := o.Recommended
		r.Authentication = nil
		r.Authorization = nil
		if r.CoreAPI.CoreAPIKubeconfigPath == "" {
			r.CoreAPI = nil
			r.Admission = nil
			r.Features.EnablePriorityAndFairness = false
		}
	}
	return nil
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	r := o.Recommended
	if !o.embeddedEtcd {
		errs = append(errs, r.Etcd.Validate()...)
	}
	errs = append(errs, r.SecureServing.Validate()...)
	errs = append(errs, r.Authentication.Validate()...)
	errs = append(errs, r.Authorization.Validate()...)
	errs = append(errs, r.Audit.Validate()...)
	errs = append(errs, r.Features.Validate()...)
	errs = append(errs, r.CoreAPI.Validate()...)
	errs = append(errs, r.Admission.Validate()...)
	errs = append(errs, r.EgressSelector.Validate()...)
	errs = append(errs, r.Traces.Validate()...)
	if o.StateDir == "" {
		errs = append(errs, fmt.Errorf("--state-dir must be set"))
	}
	if q, err := resource.ParseQuantity(o.CompiledModuleBudget); o.CompiledModuleBudget != "" && (err != nil || q.Sign() < 0) {
		errs = append(errs, fmt.Errorf("--compiled-module-budget must be a non-negative quantity such as 256Mi, got %q", o.CompiledModuleBudget))
	}
	if q, err := resource.ParseQuantity(o.TemplateBudget); o.TemplateBudget != "" && (err != nil || q.Sign() < 0) {
		errs = append(errs, fmt.Errorf("--template-budget must be a non-negative quantity such as 64Mi, got %q", o.TemplateBudget))
	}
	if o.SpareInstanceIdle < 0 {
		errs = append(errs, fmt.Errorf("--spare-instance-idle must not be negative (0 builds no spare), got %s", o.SpareInstanceIdle))
	}
	if o.CompiledModuleIdleUnload < 0 {
		errs = append(errs, fmt.Errorf("--compiled-module-idle-unload must not be negative (0 never unloads), got %s", o.CompiledModuleIdleUnload))
	}
	if o.MaxRunningGuests < 1 {
		errs = append(errs, fmt.Errorf("--max-running-guests must be at least 1, got %d", o.MaxRunningGuests))
	}
	if o.Modules.StoreMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("--module-store-max-bytes must not be negative (0 means no bound), got %d", o.Modules.StoreMaxBytes))
	}
	errs = append(errs, o.Ceilings.Validate()...)
	errs = append(errs, o.Sharding.Validate()...)
	errs = append(errs, o.Shutdown.Validate()...)
	if o.Sharding.Enabled && o.RunControllers && o.embeddedEtcd {
		errs = append(errs, fmt.Errorf("--sharding needs --etcd-servers: replicas that share the controllers must "+
			"share their storage, and the embedded etcd is one replica's own"))
	}
	if o.Standalone {
		if ip := r.SecureServing.BindAddress; ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("--standalone serves with a generated credential and only on a loopback address: "+
				"set --bind-address=127.0.0.1 (got %q), or run without --standalone to delegate authentication to a cluster", ip))
		}
	}
	if logErrs := logsapi.Validate(o.Logs, utilfeature.DefaultFeatureGate, nil); len(logErrs) > 0 {
		errs = append(errs, logErrs.ToAggregate())
	}
	return utilerrors.NewAggregate(errs)
}

// listen binds the secure serving port now, unless it is already bound
// or must be shared (--permit-port-sharing, --permit-address-sharing: the
// server's own ApplyTo sets those options on the socket); Config serves on
// the listener.
func (o *Options) listen() error {
	s := o.Recommended.SecureServing.SecureServingOptions
	if s.Listener != nil || s.BindPort <= 0 || s.PermitPortSharing || s.PermitAddressSharing {
		return nil
	}
	l, port, err := genericoptions.CreateListener(s.BindNetwork,
		net.JoinHostPort(s.BindAddress.String(), strconv.Itoa(s.BindPort)), net.ListenConfig{})
	if err != nil {
		return fmt.Errorf("failed to create listener: %w", err)
	}
	s.Listener, s.BindPort = l, port
	return nil
}

// Config builds the server configuration. The embedded etcd, when used,
// must already be serving at etcdURL.
func (o *Options) Config(etcdURL string) (*apiserver.Config, error) {
	r := o.Recommended
	if o.embeddedEtcd {
		r.Etcd.StorageConfig.Transport.ServerList = []string{etcdURL}
	}
	if err := r.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil,
		[]net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed certificate: %w", err)
	}

	cfg := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIConfig.Info.Title = "wasm-apiserver"
	cfg.OpenAPIConfig.Info.Version = "v1alpha1"
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIV3Config.Info.Title = "wasm-apiserver"
	cfg.OpenAPIV3Config.Info.Version = "v1alpha1"
	cfg.FeatureGate = utilfeature.DefaultFeatureGate
	cfg.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()

	if err := r.ApplyTo(cfg); err != nil {
		return nil, err
	}
	o.Shutdown.ApplyTo(&cfg.Config)
	if o.Standalone {
		if err := o.applyStandaloneAuth(cfg); err != nil {
			return nil, err
		}
	}
	budget, err := compiledBudget(o.CompiledModuleBudget, "/sys/fs/cgroup")
	if err != nil {
		return nil, fmt.Errorf("--compiled-module-budget: %w", err)
	}
	templates, err := templateBudget(o.TemplateBudget, "/sys/fs/cgroup")
	if err != nil {
		return nil, fmt.Errorf("--template-budget: %w", err)
	}
	ceilings, err := o.Ceilings.Ceilings()
	if err != nil {
		return nil, err
	}
	shardingOpts, err := o.Sharding.Options()
	if err != nil {
		return nil, err
	}
	return &apiserver.Config{GenericConfig: cfg, ExtraConfig: apiserver.ExtraConfig{
		RunControllers: o.RunControllers, MaxRunningGuests: o.MaxRunningGuests, StateDir: o.StateDir,
		CompiledModuleBudget: budget, CompiledModuleIdleUnload: o.CompiledModuleIdleUnload, TemplateBudget: templates, SpareInstanceIdle: o.SpareInstanceIdle, Cluster: cfg.ClientConfig, Modules: o.Modules, Ceilings: ceilings,
		Sharding: shardingOpts}}, nil
}
