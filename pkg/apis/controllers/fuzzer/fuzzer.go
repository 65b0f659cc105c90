// Package fuzzer fills WasmControllers with random values that survive a
// round trip through the versioned API and its defaulting.
package fuzzer

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
)

// Funcs returns the fuzzer functions of the controllers.wasm.io API group.
//
// Fields that v1alpha1 defaults are always filled, so that decoding does not
// set them and make the decoded object differ from the fuzzed one.
var Funcs = func(_ runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		fuzzSpec,
		fuzzModuleSource,
	}
}

func fuzzSpec(s *controllers.WasmControllerSpec, c randfill.Continue) {
	c.FillNoCustom(s) // fuzz the fields, then repair the defaulted ones

	if s.ServiceAccountName == "" {
		s.ServiceAccountName = "sa-" + c.String(8)
	}
	if s.ResyncPeriod != nil {
		s.ResyncPeriod = randomDuration(c)
	}

	s.Suspend.Policy = controllers.SuspendPolicies[c.Intn(len(controllers.SuspendPolicies))]
	switch {
	case s.Suspend.Policy == controllers.SuspendIdle:
		s.Suspend.IdleAfter = randomDuration(c)
	case c.Bool():
		s.Suspend.IdleAfter = randomDuration(c)
	default:
		s.Suspend.IdleAfter = nil
	}

	// Memory is a whole number of Mi between 1Mi and 4Gi, built canonical as
	// a decoded quantity is.
	s.Limits.Memory = resource.NewQuantity((c.Int63n(4096)+1)<<20, resource.BinarySI)
	s.Limits.ReconcileTimeout = randomDuration(c)
	s.Limits.MaxConcurrentReconciles = c.Int31n(64) + 1
}

func fuzzModuleSource(m *controllers.ModuleSource, c randfill.Continue) {
	c.FillNoCustom(m)
	if m.Image != "" && m.ImagePullPolicy == "" {
		m.ImagePullPolicy = controllers.PullIfNotPresent
	}
}

// randomDuration is a positive duration of up to a day, whole milliseconds.
func randomDuration(c randfill.Continue) *metav1.Duration {
	return &metav1.Duration{Duration: time.Duration(c.Int63n(24*60*60*1000)+1) * time.Millisecond}
}
