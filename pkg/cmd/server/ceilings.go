package server

import (
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// Default ceilings, chosen for the StatefulSet in artifacts/ (a 512Mi memory
// limit, --max-running-guests 8, --compiled-module-budget 256Mi):
//
//   - memory 128Mi: one guest at its ceiling, the compiled-code budget and
//     the server itself (~50Mi) still fit in 512Mi. Measured Go guests use
//     3–25Mi of linear memory, so 128Mi is ample headroom for a real one.
//   - reconcile timeout 5m: ten times the 30s default; a guest holds one of
//     the 8 workers while it reconciles, and an hour of that is a worker
//     taken from every other tenant.
//   - concurrency 4: one controller may hold half the workers, never all.
//   - module 64Mi: the largest guest we build (client-go's typed clientset,
//     56MB) fits; a module is held whole in memory while it is fetched and
//     compiled, so the API's 4Gi would not.
const (
	defaultMaxControllerMemory     = "128Mi"
	defaultMaxReconcileTimeout     = 5 * time.Minute
	defaultMaxConcurrentReconciles = 4
	defaultMaxModuleSize           = "64Mi"
)

// CeilingOptions are the administrator's ceilings on what one WasmController
// may ask for.
type CeilingOptions struct {
	// MaxControllerMemory bounds spec.limits.memory, a quantity such as 128Mi.
	MaxControllerMemory string
	// MaxReconcileTimeout bounds spec.limits.reconcileTimeout.
	MaxReconcileTimeout time.Duration
	// MaxConcurrentReconciles bounds spec.limits.maxConcurrentReconciles.
	MaxConcurrentReconciles int32
	// MaxModuleSize bounds a module's bytes, a quantity such as 64Mi.
	MaxModuleSize string
}

// NewCeilingOptions returns the default ceilings.
func NewCeilingOptions() *CeilingOptions {
	return &CeilingOptions{
		MaxControllerMemory:     defaultMaxControllerMemory,
		MaxReconcileTimeout:     defaultMaxReconcileTimeout,
		MaxConcurrentReconciles: defaultMaxConcurrentReconciles,
		MaxModuleSize:           defaultMaxModuleSize,
	}
}

// AddFlags adds the ceilings' flags to fss, in a group of their own.
func (o *CeilingOptions) AddFlags(fss *cliflag.NamedFlagSets) {
	fs := fss.FlagSet("ceilings")
	fs.StringVar(&o.MaxControllerMemory, flagName(validation.FlagMaxControllerMemory), o.MaxControllerMemory,
		"Most linear memory a WasmController may ask for in spec.limits.memory, a quantity such as 128Mi (at most 4Gi). "+
			"Larger values are refused at admission; a controller stored with one before the ceiling was lowered is not run.")
	fs.DurationVar(&o.MaxReconcileTimeout, flagName(validation.FlagMaxReconcileTimeout), o.MaxReconcileTimeout,
		"Longest spec.limits.reconcileTimeout a WasmController may ask for (at most 1h).")
	fs.Int32Var(&o.MaxConcurrentReconciles, flagName(validation.FlagMaxConcurrentReconciles), o.MaxConcurrentReconciles,
		"Most spec.limits.maxConcurrentReconciles a WasmController may ask for (at most 64).")
	fs.StringVar(&o.MaxModuleSize, flagName(validation.FlagMaxModuleSize), o.MaxModuleSize,
		"Largest module a WasmController may run, a quantity such as 64Mi (at most 1Gi): an inline module over it is "+
			"refused at admission, one fetched from an image, a URL or a ConfigMap fails with reason ModuleTooLarge.")
	fs.Var(&byteCountAlias{&o.MaxModuleSize}, "module-max-bytes", "Largest module, in bytes.")
	_ = fs.MarkDeprecated("module-max-bytes", "use "+validation.FlagMaxModuleSize+" instead")
}

// Validate reports every ceiling that is malformed or out of range.
func (o *CeilingOptions) Validate() []error {
	c, errs := o.parse()
	if len(errs) > 0 {
		return errs
	}
	return c.Validate()
}

// Ceilings returns the ceilings in bytes and durations. Call it after
// Validate: it reports only what cannot be parsed.
func (o *CeilingOptions) Ceilings() (validation.Ceilings, error) {
	c, errs := o.parse()
	return c, utilerrors.NewAggregate(errs)
}

func (o *CeilingOptions) parse() (validation.Ceilings, []error) {
	c := validation.Ceilings{ReconcileTimeout: o.MaxReconcileTimeout, MaxConcurrentReconciles: o.MaxConcurrentReconciles}
	var errs []error
	for _, q := range []struct {
		flag, value string
		bytes       *int64
	}{
		{validation.FlagMaxControllerMemory, o.MaxControllerMemory, &c.MemoryBytes},
		{validation.FlagMaxModuleSize, o.MaxModuleSize, &c.ModuleBytes},
	} {
		parsed, err := resource.ParseQuantity(q.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s must be a quantity such as 64Mi, got %q: %w", q.flag, q.value, err))
			continue
		}
		*q.bytes = parsed.Value()
	}
	return c, errs
}

// flagName is a flag's name without its dashes, as pflag takes it.
func flagName(flag string) string { return flag[2:] }

// byteCountAlias is the deprecated --module-max-bytes: a count of bytes that
// sets --max-module-size.
type byteCountAlias struct{ quantity *string }

func (a *byteCountAlias) String() string { return *a.quantity }

func (a *byteCountAlias) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return err
	}
	*a.quantity = strconv.FormatInt(n, 10)
	return nil
}

func (a *byteCountAlias) Type() string { return "int" }
