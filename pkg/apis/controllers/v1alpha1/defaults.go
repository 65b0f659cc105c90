package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults applied to fields left empty. The limits are filled by the
// server when it stores the object, not when it decodes it: their defaults
// are lowered to the administrator's ceilings where those are lower.
const (
	DefaultServiceAccountName      = "default"
	DefaultIdleAfter               = 30 * time.Second
	DefaultReconcileTimeout        = 30 * time.Second
	DefaultMaxConcurrentReconciles = 1
	DefaultMemoryLimit             = "64Mi"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_WasmControllerSpec fills the spec's optional fields.
func SetDefaults_WasmControllerSpec(obj *WasmControllerSpec) {
	if obj.ServiceAccountName == "" {
		obj.ServiceAccountName = DefaultServiceAccountName
	}
	if obj.Suspend.Policy == "" {
		obj.Suspend.Policy = SuspendIdle
	}
	if obj.Suspend.Policy == SuspendIdle && obj.Suspend.IdleAfter == nil {
		obj.Suspend.IdleAfter = &metav1.Duration{Duration: DefaultIdleAfter}
	}
}

// SetDefaults_ModuleSource pins the pull policy of image sources.
func SetDefaults_ModuleSource(obj *ModuleSource) {
	if obj.Image != "" && obj.ImagePullPolicy == "" {
		obj.ImagePullPolicy = PullIfNotPresent
	}
}
