// Package validation checks WasmControllers before they are stored, so that
// bad input is refused at admission with the field path and the reason.
package validation

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// Limits on what a WasmController may ask for.
const (
	// MaxInlineModuleBytes bounds spec.module.inline so the object stays well
	// under etcd's request size limit; larger modules use another source.
	MaxInlineModuleBytes = 1 << 20
	// MaxWatches bounds spec.watches.
	MaxWatches = 32
	// MaxEnv bounds spec.env.
	MaxEnv = 128
	// MaxConcurrentReconciles bounds spec.limits.maxConcurrentReconciles.
	MaxConcurrentReconciles = 64
	// MinResyncPeriod is the shortest spec.resyncPeriod.
	MinResyncPeriod = time.Second
	// MaxReconcileTimeout bounds spec.limits.reconcileTimeout.
	MaxReconcileTimeout = time.Hour
)

var (
	minMemory = resource.MustParse("1Mi")
	// maxMemory is the address space of 32-bit WebAssembly.
	maxMemory = resource.MustParse("4Gi")

	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	kindName  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	// imageRef is a light syntax check of an OCI reference; the registry
	// client parses it fully when the module is pulled.
	imageRef = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$`)

	suspendPolicies = sets.New(controllers.SuspendPolicies...)
	pullPolicies    = sets.New(controllers.PullIfNotPresent, controllers.PullAlways)
	phases          = sets.New(controllers.PhasePending, controllers.PhaseLoading, controllers.PhaseActive,
		controllers.PhaseSuspended, controllers.PhaseFailed, controllers.PhasePaused)
)

// ValidateWasmController checks a WasmController being created, its spec
// within the administrator's ceilings and its wake rules with rules.
func ValidateWasmController(wc *controllers.WasmController, ceilings Ceilings, rules RuleChecker) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&wc.ObjectMeta, true,
		apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidateSpec(&wc.Spec, nil, rules, field.NewPath("spec"))...)
	return append(allErrs, ValidateLimitsWithin(&wc.Spec, ceilings, field.NewPath("spec"))...)
}

// ValidateWasmControllerUpdate checks a WasmController replacing old. The
// ceilings hold for the fields the update changes: a value stored before a
// ceiling was lowered may stay (the host still refuses to run it). So do
// the wake rules: a rule old already has is checked as stored.
func ValidateWasmControllerUpdate(wc, old *controllers.WasmController, ceilings Ceilings, rules RuleChecker) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&wc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidateSpec(&wc.Spec, &old.Spec, rules, field.NewPath("spec"))...)
	return append(allErrs, validateLimitsWithin(&wc.Spec, &old.Spec, ceilings, field.NewPath("spec"))...)
}

// ValidateWasmControllerStatusUpdate checks a write to the status subresource.
func ValidateWasmControllerStatusUpdate(wc, old *controllers.WasmController) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&wc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateStatus(&wc.Status, field.NewPath("status"))...)
}

// ValidateSpec checks a WasmControllerSpec. old is the stored spec an update
// replaces, nil on create; see RuleChecker for how wake rules are checked.
func ValidateSpec(spec, old *controllers.WasmControllerSpec, rules RuleChecker, fldPath *field.Path) field.ErrorList {
	allErrs := validateModule(&spec.Module, fldPath.Child("module"))
	for _, msg := range apimachineryvalidation.ValidateServiceAccountName(spec.ServiceAccountName, false) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("serviceAccountName"), spec.ServiceAccountName, msg))
	}
	allErrs = append(allErrs, validateWatches(spec.Watches, newRuleValidator(rules, old), fldPath.Child("watches"))...)
	if spec.ResyncPeriod != nil && spec.ResyncPeriod.Duration < MinResyncPeriod {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("resyncPeriod"), spec.ResyncPeriod.Duration.String(),
			fmt.Sprintf("must be at least %s", MinResyncPeriod)))
	}
	allErrs = append(allErrs, validateSuspend(&spec.Suspend, fldPath.Child("suspend"))...)
	allErrs = append(allErrs, validateLimits(&spec.Limits, fldPath.Child("limits"))...)
	return append(allErrs, validateEnv(spec.Env, fldPath.Child("env"))...)
}

func validateModule(m *controllers.ModuleSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var set []string
	for _, src := range []struct {
		name string
		set  bool
	}{{"image", m.Image != ""}, {"url", m.URL != ""}, {"configMapRef", m.ConfigMapRef != nil}, {"inline", len(m.Inline) > 0}} {
		if !src.set {
			continue
		}
		if len(set) > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(src.name),
				fmt.Sprintf("may not be set together with %s: exactly one module source is allowed", fldPath.Child(set[0]))))
		}
		set = append(set, src.name)
	}
	if len(set) == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "exactly one of image, url, configMapRef or inline is required"))
	}

	if m.Image != "" && !imageRef.MatchString(m.Image) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("image"), m.Image,
			"must be an OCI reference such as registry.example.com/repo/name:tag or name@sha256:<hex>"))
	}
	if m.Image == "" {
		if len(m.ImagePullSecrets) > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("imagePullSecrets"), "may only be set with image"))
		}
		if m.ImagePullPolicy != "" {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("imagePullPolicy"), "may only be set with image"))
		}
	} else if m.ImagePullPolicy != "" && !pullPolicies.Has(m.ImagePullPolicy) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("imagePullPolicy"), m.ImagePullPolicy, sets.List(pullPolicies)))
	}
	for i, s := range m.ImagePullSecrets {
		allErrs = append(allErrs, validateName(s.Name, fldPath.Child("imagePullSecrets").Index(i).Child("name"))...)
	}

	if m.URL != "" {
		if u, err := url.Parse(m.URL); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("url"), m.URL, err.Error()))
		} else if u.Scheme != "https" || u.Host == "" {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("url"), m.URL, "must be an https:// URL"))
		}
		if m.SHA256 == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("sha256"), "required with url: the module is verified against it before it runs"))
		}
	}
	if m.SHA256 != "" && !sha256Hex.MatchString(m.SHA256) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("sha256"), m.SHA256, "must be 64 lowercase hexadecimal characters"))
	}

	if ref := m.ConfigMapRef; ref != nil {
		allErrs = append(allErrs, validateName(ref.Name, fldPath.Child("configMapRef", "name"))...)
		keyPath := fldPath.Child("configMapRef", "key")
		if ref.Key == "" {
			allErrs = append(allErrs, field.Required(keyPath, ""))
		} else {
			for _, msg := range utilvalidation.IsConfigMapKey(ref.Key) {
				allErrs = append(allErrs, field.Invalid(keyPath, ref.Key, msg))
			}
		}
	}

	if len(m.Inline) > 0 {
		if len(m.Inline) > MaxInlineModuleBytes {
			allErrs = append(allErrs, field.TooLong(fldPath.Child("inline"), "", MaxInlineModuleBytes))
		} else if err := wasmmodule.CheckHeader(m.Inline); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("inline"), "<bytes>", err.Error()))
		}
	}
	return append(allErrs, validateReconciler(m.Reconciler, fldPath.Child("reconciler"))...)
}

// validateReconciler checks the name of a bundle's reconciler: a DNS-1123
// label, as the guest SDK's RegisterNamed accepts (docs/abi.md), so that a
// name no module can register is refused here rather than at load.
func validateReconciler(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return nil
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func validateName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func validateWatches(watches []controllers.Watch, rules ruleValidator, fldPath *field.Path) field.ErrorList {
	if len(watches) == 0 {
		return field.ErrorList{field.Required(fldPath, "at least one watch is required")}
	}
	if len(watches) > MaxWatches {
		return field.ErrorList{field.TooMany(fldPath, len(watches), MaxWatches)}
	}
	var allErrs field.ErrorList
	for i := range watches {
		allErrs = append(allErrs, validateWatch(&watches[i], rules, fldPath.Index(i))...)
	}
	return allErrs
}

func validateWatch(w *controllers.Watch, rules ruleValidator, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateKind(w.APIVersion, w.Kind, fldPath)...)
	if w.Namespace != "" {
		for _, msg := range apimachineryvalidation.ValidateNamespaceName(w.Namespace, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("namespace"), w.Namespace, msg))
		}
	}
	if w.LabelSelector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(w.LabelSelector,
			metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("labelSelector"))...)
	}
	if w.FieldSelector != "" {
		if _, err := fields.ParseSelector(w.FieldSelector); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("fieldSelector"), w.FieldSelector, err.Error()))
		}
	}
	if w.WakeWhen != "" {
		allErrs = append(allErrs, rules.validate(wakerule.WakeWhen, w.WakeWhen, fldPath.Child("wakeWhen"))...)
	}
	if w.Enqueue != "" {
		allErrs = append(allErrs, rules.validate(wakerule.Enqueue, w.Enqueue, fldPath.Child("enqueue"))...)
	}
	if o := w.EnqueueOwner; o != nil {
		ownerPath := fldPath.Child("enqueueOwner")
		if w.Enqueue != "" {
			allErrs = append(allErrs, field.Forbidden(ownerPath, "may not be set with enqueue: a watch enqueues either what its rule returns or the object's owners"))
		}
		allErrs = append(allErrs, validateKind(o.APIVersion, o.Kind, ownerPath)...)
	}
	return allErrs
}

// validateKind checks the apiVersion and kind fields under fldPath.
func validateKind(apiVersion, kind string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if apiVersion == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("apiVersion"), `such as "v1" or "apps/v1"`))
	} else if gv, err := schema.ParseGroupVersion(apiVersion); err != nil || gv.Version == "" {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), apiVersion, `must be "version" or "group/version"`))
	} else {
		if gv.Group != "" {
			for _, msg := range utilvalidation.IsDNS1123Subdomain(gv.Group) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), apiVersion, "group: "+msg))
			}
		}
		for _, msg := range utilvalidation.IsDNS1035Label(gv.Version) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), apiVersion, "version: "+msg))
		}
	}
	if kind == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), `such as "ConfigMap"`))
	} else if !kindName.MatchString(kind) || len(kind) > 63 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("kind"), kind,
			"must be a kind name: an upper-case letter followed by letters and digits, at most 63 characters"))
	}
	return allErrs
}

func validateSuspend(s *controllers.SuspendSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.Policy != "" && !suspendPolicies.Has(s.Policy) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("policy"), s.Policy, sets.List(suspendPolicies)))
	}
	if s.IdleAfter != nil && s.IdleAfter.Duration <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("idleAfter"), s.IdleAfter.Duration.String(), "must be positive"))
	}
	return allErrs
}

func validateLimits(l *controllers.Limits, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if l.Memory != nil && (l.Memory.Cmp(minMemory) < 0 || l.Memory.Cmp(maxMemory) > 0) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("memory"), l.Memory.String(),
			fmt.Sprintf("must be between %s and %s", minMemory.String(), maxMemory.String())))
	}
	if t := l.ReconcileTimeout; t != nil && (t.Duration <= 0 || t.Duration > MaxReconcileTimeout) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("reconcileTimeout"), t.Duration.String(),
			fmt.Sprintf("must be positive and at most %s", MaxReconcileTimeout)))
	}
	if n := l.MaxConcurrentReconciles; n < 1 || n > MaxConcurrentReconciles {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxConcurrentReconciles"), n,
			fmt.Sprintf("must be between 1 and %d", MaxConcurrentReconciles)))
	}
	return allErrs
}

func validateEnv(env []controllers.EnvVar, fldPath *field.Path) field.ErrorList {
	if len(env) > MaxEnv {
		return field.ErrorList{field.TooMany(fldPath, len(env), MaxEnv)}
	}
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, e := range env {
		p := fldPath.Index(i).Child("name")
		if e.Name == "" {
			allErrs = append(allErrs, field.Required(p, ""))
			continue
		}
		for _, msg := range utilvalidation.IsEnvVarName(e.Name) {
			allErrs = append(allErrs, field.Invalid(p, e.Name, msg))
		}
		if seen.Has(e.Name) {
			allErrs = append(allErrs, field.Duplicate(p, e.Name))
		}
		seen.Insert(e.Name)
	}
	return allErrs
}

// ValidateStatus checks a WasmControllerStatus written by the host.
func ValidateStatus(s *controllers.WasmControllerStatus, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.Phase != "" && !phases.Has(s.Phase) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("phase"), s.Phase, sets.List(phases)))
	}
	if s.ObservedGeneration < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("observedGeneration"), s.ObservedGeneration, "must not be negative"))
	}
	for _, c := range []struct {
		name  string
		value int64
	}{{"wakes", s.Wakes}, {"memoryBytes", s.MemoryBytes}, {"snapshotBytes", s.SnapshotBytes}} {
		if c.value < 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(c.name), c.value, "must not be negative"))
		}
	}
	if s.ModuleDigest != "" && !strings.HasPrefix(s.ModuleDigest, "sha256:") {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("moduleDigest"), s.ModuleDigest, `must be "sha256:<hex>"`))
	}
	if s.ResolvedImage != "" && !strings.Contains(s.ResolvedImage, "@sha256:") {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("resolvedImage"), s.ResolvedImage, `must be a reference by digest, "<image>@sha256:<hex>"`))
	}
	return append(allErrs, metav1validation.ValidateConditions(s.Conditions, fldPath.Child("conditions"))...)
}
