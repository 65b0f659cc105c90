package validation

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// wantError is one expected field error: its type, its field path and a
// substring of its message (as printed by kubectl, so the value counts too).
type wantError struct {
	Type  field.ErrorType
	Field string
	Msg   string
}

// checkErrors reports a diff unless errs are exactly want, in order.
func checkErrors(t *testing.T, errs field.ErrorList, want []wantError) {
	t.Helper()
	type typeAndField struct {
		Type  field.ErrorType
		Field string
	}
	var gotTF, wantTF []typeAndField
	for _, e := range errs {
		gotTF = append(gotTF, typeAndField{e.Type, e.Field})
	}
	for _, w := range want {
		wantTF = append(wantTF, typeAndField{w.Type, w.Field})
	}
	if diff := cmp.Diff(wantTF, gotTF); diff != "" {
		t.Fatalf("errors (-want +got):\n%s\nall errors: %v", diff, errs)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w.Msg) {
			t.Errorf("error %d = %q, want it to contain %q", i, errs[i].Error(), w.Msg)
		}
	}
}

func quantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

var (
	digest      = strings.Repeat("0123456789abcdef", 4)
	wasmModule  = []byte("\x00asm\x01\x00\x00\x00")
	costlyRule  = "object.spec.items.all(x, object.spec.items.all(y, x == y))"
	enqueueRule = "[object.metadata.namespace + '/' + object.metadata.name]"
)

// validWasmController is a WasmController as the API server validates it:
// decoded from v1alpha1, so with its defaults filled.
func validWasmController() *controllers.WasmController {
	return &controllers.WasmController{
		ObjectMeta: metav1.ObjectMeta{Name: "replicator", Namespace: "default", ResourceVersion: "1"},
		Spec: controllers.WasmControllerSpec{
			Module: controllers.ModuleSource{
				URL:    "https://modules.example.com/replicator.wasm",
				SHA256: digest,
			},
			ServiceAccountName: "default",
			Watches: []controllers.Watch{{
				APIVersion: "v1",
				Kind:       "ConfigMap",
				WakeWhen:   "eventType == 'DELETED' || oldObject == null || object.data != oldObject.data",
			}},
			Suspend: controllers.SuspendSpec{Policy: controllers.SuspendIdle, IdleAfter: duration(30 * time.Second)},
			Limits: controllers.Limits{
				Memory:                  quantity("64Mi"),
				ReconcileTimeout:        duration(30 * time.Second),
				MaxConcurrentReconciles: 1,
			},
		},
	}
}

func TestValidateWasmController(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(wc *controllers.WasmController)
		want   []wantError
	}{
		{
			name:   "valid url source",
			mutate: func(*controllers.WasmController) {},
		},
		{
			name: "valid image source",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{
					Image:            "registry.example.com:5000/controllers/replicator:v1",
					ImagePullSecrets: []controllers.LocalObjectReference{{Name: "registry-creds"}},
					ImagePullPolicy:  controllers.PullAlways,
				}
			},
		},
		{
			name: "valid image by digest",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Image: "replicator@sha256:" + digest, ImagePullPolicy: controllers.PullIfNotPresent}
			},
		},
		{
			name: "valid configMapRef source",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{ConfigMapRef: &controllers.ConfigMapKeyReference{Name: "modules", Key: "replicator.wasm.gz"}}
			},
		},
		{
			name: "valid inline source with sha256",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Inline: wasmModule, SHA256: digest}
			},
		},
		{
			name: "valid inline source at the size limit",
			mutate: func(wc *controllers.WasmController) {
				inline := make([]byte, MaxInlineModuleBytes)
				copy(inline, wasmModule)
				wc.Spec.Module = controllers.ModuleSource{Inline: inline}
			},
		},
		{
			name: "valid watches with selectors and rules",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = []controllers.Watch{
					{
						APIVersion:    "apps/v1",
						Kind:          "Deployment",
						Namespace:     "team-a",
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "web"}},
						FieldSelector: "metadata.name=web",
						WakeWhen:      "object.metadata.name.matches('^web')",
						Enqueue:       enqueueRule,
					},
					{APIVersion: "v1", Kind: "Secret", Enqueue: "object.metadata.namespace + '/' + object.metadata.name"},
					{APIVersion: "v1", Kind: "Pod", WakeWhen: "quantity('1Gi').isGreaterThan(quantity('1Mi'))"},
				}
			},
		},
		{
			name: "valid limits at their bounds",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.ResyncPeriod = duration(time.Second)
				wc.Spec.Limits = controllers.Limits{Memory: quantity("4Gi"), ReconcileTimeout: duration(time.Hour), MaxConcurrentReconciles: 64}
			},
		},
		{
			name: "valid smallest memory",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Limits.Memory = quantity("1Mi")
			},
		},
		{
			name: "valid suspend policies and env",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Suspend = controllers.SuspendSpec{Policy: controllers.SuspendPredictive, Snapshot: true}
				wc.Spec.Env = []controllers.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}, {Name: "TARGET", Value: ""}}
			},
		},
		{
			name:   "missing namespace",
			mutate: func(wc *controllers.WasmController) { wc.Namespace = "" },
			want:   []wantError{{field.ErrorTypeRequired, "metadata.namespace", ""}},
		},
		{
			name:   "bad name",
			mutate: func(wc *controllers.WasmController) { wc.Name = "Replicator_1" },
			want:   []wantError{{field.ErrorTypeInvalid, "metadata.name", "lowercase RFC 1123 subdomain"}},
		},

		// spec.module
		{
			name:   "no module source",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module = controllers.ModuleSource{} },
			want:   []wantError{{field.ErrorTypeRequired, "spec.module", "exactly one of image, url, configMapRef or inline is required"}},
		},
		{
			name: "two module sources",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module.Image = "registry.example.com/replicator:v1"
				wc.Spec.Module.ImagePullPolicy = controllers.PullIfNotPresent
			},
			want: []wantError{{field.ErrorTypeForbidden, "spec.module.url", "may not be set together with spec.module.image"}},
		},
		{
			name: "four module sources",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module.Image = "replicator"
				wc.Spec.Module.ConfigMapRef = &controllers.ConfigMapKeyReference{Name: "modules", Key: "replicator.wasm"}
				wc.Spec.Module.Inline = wasmModule
			},
			want: []wantError{
				{field.ErrorTypeForbidden, "spec.module.url", "may not be set together with spec.module.image"},
				{field.ErrorTypeForbidden, "spec.module.configMapRef", "may not be set together with spec.module.image"},
				{field.ErrorTypeForbidden, "spec.module.inline", "may not be set together with spec.module.image"},
			},
		},
		{
			name:   "url without sha256",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.SHA256 = "" },
			want:   []wantError{{field.ErrorTypeRequired, "spec.module.sha256", "required with url"}},
		},
		{
			name: "http url",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module.URL = "http://modules.example.com/replicator.wasm"
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.url", "must be an https:// URL"}},
		},
		{
			name:   "url without host",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.URL = "https:///replicator.wasm" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.url", "must be an https:// URL"}},
		},
		{
			name:   "url that does not parse",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.URL = "https://modules.example.com/%zz" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.url", "invalid URL escape"}},
		},
		{
			name:   "sha256 in upper case",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.SHA256 = strings.ToUpper(digest) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.sha256", "must be 64 lowercase hexadecimal characters"}},
		},
		{
			name:   "sha256 too short",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.SHA256 = digest[:63] },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.sha256", "must be 64 lowercase hexadecimal characters"}},
		},
		{
			name: "sha256 with a prefix",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Inline: wasmModule, SHA256: "sha256:" + digest}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.sha256", "must be 64 lowercase hexadecimal characters"}},
		},
		{
			name: "configMapRef missing key",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{ConfigMapRef: &controllers.ConfigMapKeyReference{Name: "modules"}}
			},
			want: []wantError{
				{field.ErrorTypeRequired, "spec.module.configMapRef.key", ""},
			},
		},
		{
			name: "configMapRef bad key",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{ConfigMapRef: &controllers.ConfigMapKeyReference{Name: "modules", Key: "a/b.wasm"}}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.configMapRef.key", "a valid config key"}},
		},
		{
			name: "configMapRef missing name",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{ConfigMapRef: &controllers.ConfigMapKeyReference{Key: "replicator.wasm"}}
			},
			want: []wantError{{field.ErrorTypeRequired, "spec.module.configMapRef.name", ""}},
		},
		{
			name: "configMapRef bad name",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{ConfigMapRef: &controllers.ConfigMapKeyReference{Name: "Modules", Key: "replicator.wasm"}}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.configMapRef.name", "lowercase RFC 1123 subdomain"}},
		},
		{
			name: "inline not starting with the wasm magic",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Inline: []byte("#!/bin/sh\n")}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.inline", `magic bytes \0asm`}},
		},
		{
			// Admission checks the header as the host does at load.
			name: "inline component",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Inline: []byte("\x00asm\x0d\x00\x01\x00")}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.inline", "a WebAssembly component, not a core module"}},
		},
		{
			name: "inline magic only",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Inline: []byte("\x00asm")}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.inline", `magic bytes \0asm`}},
		},
		{
			name: "inline too large",
			mutate: func(wc *controllers.WasmController) {
				inline := make([]byte, MaxInlineModuleBytes+1)
				copy(inline, wasmModule)
				wc.Spec.Module = controllers.ModuleSource{Inline: inline}
			},
			want: []wantError{{field.ErrorTypeTooLong, "spec.module.inline", "1048576 bytes"}},
		},
		{
			name:   "reconciler",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "ttl-cleaner" },
		},
		{
			name:   "reconciler of 63 characters",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "r" + strings.Repeat("0", 62) },
		},
		{
			name:   "reconciler of 64 characters",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "r" + strings.Repeat("0", 63) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.reconciler", "must be no more than 63 characters"}},
		},
		{
			name:   "reconciler with uppercase",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "TTLCleaner" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.reconciler", "a lowercase RFC 1123 label"}},
		},
		{
			name:   "reconciler with a dot",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "ttl.cleaner" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.reconciler", "must not contain dots"}},
		},
		{
			name:   "reconciler with a trailing dash",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "ttl-" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.reconciler", "a lowercase RFC 1123 label"}},
		},
		{
			name:   "reconciler with a control character",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Reconciler = "ttl\ncleaner" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.module.reconciler", "a lowercase RFC 1123 label"}},
		},
		{
			name: "imagePullSecrets without image",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module.ImagePullSecrets = []controllers.LocalObjectReference{{Name: "registry-creds"}}
			},
			want: []wantError{{field.ErrorTypeForbidden, "spec.module.imagePullSecrets", "may only be set with image"}},
		},
		{
			name:   "imagePullPolicy without image",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.ImagePullPolicy = controllers.PullAlways },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.module.imagePullPolicy", "may only be set with image"}},
		},
		{
			name: "unknown imagePullPolicy",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Image: "replicator:v1", ImagePullPolicy: "Never"}
			},
			want: []wantError{{field.ErrorTypeNotSupported, "spec.module.imagePullPolicy", `supported values: "Always", "IfNotPresent"`}},
		},
		{
			name: "bad imagePullSecrets names",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{
					Image:            "replicator:v1",
					ImagePullPolicy:  controllers.PullIfNotPresent,
					ImagePullSecrets: []controllers.LocalObjectReference{{Name: ""}, {Name: "Creds"}},
				}
			},
			want: []wantError{
				{field.ErrorTypeRequired, "spec.module.imagePullSecrets[0].name", ""},
				{field.ErrorTypeInvalid, "spec.module.imagePullSecrets[1].name", "lowercase RFC 1123 subdomain"},
			},
		},
		{
			name: "bad image reference",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Image: "Registry.example.com/Replicator:v1", ImagePullPolicy: controllers.PullIfNotPresent}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.image", "must be an OCI reference"}},
		},
		{
			name: "image with a short digest",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Image: "replicator@sha256:abc", ImagePullPolicy: controllers.PullIfNotPresent}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.module.image", "must be an OCI reference"}},
		},

		// spec.serviceAccountName
		{
			name:   "bad serviceAccountName",
			mutate: func(wc *controllers.WasmController) { wc.Spec.ServiceAccountName = "Replicator_SA" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.serviceAccountName", "lowercase RFC 1123 subdomain"}},
		},

		// spec.watches
		{
			name:   "no watches",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches = nil },
			want:   []wantError{{field.ErrorTypeRequired, "spec.watches", "at least one watch is required"}},
		},
		{
			name: "too many watches",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = make([]controllers.Watch, MaxWatches+1)
				for i := range wc.Spec.Watches {
					wc.Spec.Watches[i] = controllers.Watch{APIVersion: "v1", Kind: "ConfigMap"}
				}
			},
			want: []wantError{{field.ErrorTypeTooMany, "spec.watches", "must have at most 32 items"}},
		},
		{
			name:   "apiVersion with too many parts",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].APIVersion = "apps/v1/x" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].apiVersion", `must be "version" or "group/version"`}},
		},
		{
			name:   "apiVersion without version",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].APIVersion = "apps/" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].apiVersion", `must be "version" or "group/version"`}},
		},
		{
			name:   "empty apiVersion",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].APIVersion = "" },
			want:   []wantError{{field.ErrorTypeRequired, "spec.watches[0].apiVersion", `such as "v1" or "apps/v1"`}},
		},
		{
			name:   "apiVersion with a bad group",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].APIVersion = "Apps/v1" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].apiVersion", "group: "}},
		},
		{
			name:   "apiVersion with a bad version",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].APIVersion = "apps/V1" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].apiVersion", "version: "}},
		},
		{
			name:   "kind in lower camel case",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Kind = "configMap" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].kind", "must be a kind name"}},
		},
		{
			name:   "empty kind",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Kind = "" },
			want:   []wantError{{field.ErrorTypeRequired, "spec.watches[0].kind", `such as "ConfigMap"`}},
		},
		{
			name:   "kind too long",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Kind = "K" + strings.Repeat("a", 63) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].kind", "at most 63 characters"}},
		},
		{
			name:   "bad namespace",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Namespace = "Team_A" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].namespace", "RFC 1123 label"}},
		},
		{
			name: "bad labelSelector",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches[0].LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "web"}}
			},
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].labelSelector.matchLabels", "bad key!"}},
		},
		{
			name: "labelSelector expression without values",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches[0].LabelSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: metav1.LabelSelectorOpIn},
				}}
			},
			want: []wantError{{field.ErrorTypeRequired, "spec.watches[0].labelSelector.matchExpressions[0].values", ""}},
		},
		{
			name:   "bad fieldSelector",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].FieldSelector = "metadata.name" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].fieldSelector", "invalid selector"}},
		},
		{
			name:   "wakeWhen that does not compile",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].WakeWhen = "object.metadata.name ==" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "compilation failed"}},
		},
		{
			name:   "wakeWhen with an unknown variable",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].WakeWhen = "self.metadata.name == 'x'" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "undeclared reference to 'self'"}},
		},
		{
			name:   "wakeWhen returning int",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].WakeWhen = "size(object.metadata.name)" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "must evaluate to bool, not int"}},
		},
		{
			name:   "enqueue returning int",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Enqueue = "1" },
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].enqueue",
				"must evaluate to a string or a list of strings, not int"}},
		},
		{
			name:   "enqueue returning a list of ints",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Enqueue = "[1, 2]" },
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].enqueue",
				"must evaluate to a string or a list of strings, not list(int)"}},
		},
		{
			name:   "enqueue returning a list of strings",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].Enqueue = enqueueRule },
		},
		{
			name:   "wakeWhen over the cost budget",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].WakeWhen = costlyRule },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.watches[0].wakeWhen", "exceeds budget by factor of"}},
		},
		{
			name: "enqueueOwner",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches[0].EnqueueOwner = &controllers.OwnerKind{APIVersion: "apps/v1", Kind: "Deployment"}
			},
		},
		{
			name: "enqueueOwner with enqueue",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches[0].Enqueue = enqueueRule
				wc.Spec.Watches[0].EnqueueOwner = &controllers.OwnerKind{APIVersion: "apps/v1", Kind: "Deployment"}
			},
			want: []wantError{{field.ErrorTypeForbidden, "spec.watches[0].enqueueOwner", "may not be set with enqueue"}},
		},
		{
			name: "enqueueOwner without kind, with a bad apiVersion",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches[0].EnqueueOwner = &controllers.OwnerKind{APIVersion: "apps/"}
			},
			want: []wantError{
				{field.ErrorTypeInvalid, "spec.watches[0].enqueueOwner.apiVersion", `must be "version" or "group/version"`},
				{field.ErrorTypeRequired, "spec.watches[0].enqueueOwner.kind", "such as"},
			},
		},
		{
			name: "errors in a later watch name its index",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = append(wc.Spec.Watches, controllers.Watch{APIVersion: "v1", Kind: "secret", Enqueue: "true"})
			},
			want: []wantError{
				{field.ErrorTypeInvalid, "spec.watches[1].kind", "must be a kind name"},
				{field.ErrorTypeInvalid, "spec.watches[1].enqueue", "not bool"},
			},
		},

		// spec.resyncPeriod
		{
			name:   "resyncPeriod zero",
			mutate: func(wc *controllers.WasmController) { wc.Spec.ResyncPeriod = duration(0) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.resyncPeriod", "must be at least 1s"}},
		},
		{
			name:   "resyncPeriod 500ms",
			mutate: func(wc *controllers.WasmController) { wc.Spec.ResyncPeriod = duration(500 * time.Millisecond) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.resyncPeriod", `"500ms": must be at least 1s`}},
		},

		// spec.suspend
		{
			name:   "unknown suspend policy",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Suspend.Policy = "Sometimes" },
			want: []wantError{{field.ErrorTypeNotSupported, "spec.suspend.policy",
				`supported values: "Idle", "Immediate", "Never", "Predictive"`}},
		},
		{
			name:   "negative idleAfter",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Suspend.IdleAfter = duration(-time.Second) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.suspend.idleAfter", "must be positive"}},
		},
		{
			name:   "zero idleAfter",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Suspend.IdleAfter = duration(0) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.suspend.idleAfter", "must be positive"}},
		},

		// spec.limits
		{
			name:   "memory 512Ki",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("512Ki") },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.memory", `"512Ki": must be between 1Mi and 4Gi`}},
		},
		{
			name:   "memory 8Gi",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("8Gi") },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.memory", `"8Gi": must be between 1Mi and 4Gi`}},
		},
		{
			name:   "reconcileTimeout zero",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.ReconcileTimeout = duration(0) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.reconcileTimeout", "must be positive and at most 1h0m0s"}},
		},
		{
			name:   "reconcileTimeout 2h",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.ReconcileTimeout = duration(2 * time.Hour) },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.reconcileTimeout", "must be positive and at most 1h0m0s"}},
		},
		{
			name:   "maxConcurrentReconciles 65",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = 65 },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.maxConcurrentReconciles", "must be between 1 and 64"}},
		},
		{
			name:   "maxConcurrentReconciles 0",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = 0 },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.maxConcurrentReconciles", "must be between 1 and 64"}},
		},
		{
			name:   "maxConcurrentReconciles -1",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = -1 },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.limits.maxConcurrentReconciles", "must be between 1 and 64"}},
		},

		// spec.env
		{
			name: "duplicate env name",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Env = []controllers.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}, {Name: "LOG_LEVEL", Value: "info"}}
			},
			want: []wantError{{field.ErrorTypeDuplicate, "spec.env[1].name", `"LOG_LEVEL"`}},
		},
		{
			name:   "bad env name",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Env = []controllers.EnvVar{{Name: "1LOG_LEVEL"}} },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.env[0].name", "a valid environment variable name"}},
		},
		{
			name:   "empty env name",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Env = []controllers.EnvVar{{Value: "debug"}} },
			want:   []wantError{{field.ErrorTypeRequired, "spec.env[0].name", ""}},
		},
		{
			name: "too many env vars",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Env = make([]controllers.EnvVar, MaxEnv+1)
				for i := range wc.Spec.Env {
					wc.Spec.Env[i] = controllers.EnvVar{Name: "VAR_" + strings.Repeat("X", i+1)}
				}
			},
			want: []wantError{{field.ErrorTypeTooMany, "spec.env", "must have at most 128 items"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := validWasmController()
			tt.mutate(wc)
			checkErrors(t, ValidateWasmController(wc, Ceilings{}, testRules(t)), tt.want)
		})
	}
}

func TestValidateWasmControllerUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(wc *controllers.WasmController)
		want   []wantError
	}{
		{
			name: "new module and labels",
			mutate: func(wc *controllers.WasmController) {
				wc.Labels = map[string]string{"team": "a"}
				wc.Spec.Module = controllers.ModuleSource{Image: "replicator:v2", ImagePullPolicy: controllers.PullIfNotPresent}
			},
		},
		{
			name:   "spec is validated as on create",
			mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].WakeWhen = "1" },
			want:   []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "must evaluate to bool"}},
		},
		{
			name:   "name change",
			mutate: func(wc *controllers.WasmController) { wc.Name = "replicator-2" },
			want:   []wantError{{field.ErrorTypeInvalid, "metadata.name", "field is immutable"}},
		},
		{
			name:   "namespace change",
			mutate: func(wc *controllers.WasmController) { wc.Namespace = "other" },
			want:   []wantError{{field.ErrorTypeInvalid, "metadata.namespace", "field is immutable"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validWasmController()
			wc := old.DeepCopy()
			tt.mutate(wc)
			checkErrors(t, ValidateWasmControllerUpdate(wc, old, Ceilings{}, testRules(t)), tt.want)
		})
	}
}

func validStatus() controllers.WasmControllerStatus {
	return controllers.WasmControllerStatus{
		Phase:              controllers.PhaseActive,
		ObservedGeneration: 2,
		Conditions: []metav1.Condition{{
			Type:               controllers.ConditionReady,
			Status:             metav1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
			Reason:             "Loaded",
			Message:            "module loaded and watches synced",
		}},
		ModuleDigest:  "sha256:" + digest,
		Wakes:         7,
		MemoryBytes:   1 << 20,
		SnapshotBytes: 4096,
	}
}

func TestValidateWasmControllerStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(wc *controllers.WasmController)
		want   []wantError
	}{
		{
			name:   "valid status",
			mutate: func(*controllers.WasmController) {},
		},
		{
			name:   "empty status",
			mutate: func(wc *controllers.WasmController) { wc.Status = controllers.WasmControllerStatus{} },
		},
		{
			name: "spec is not validated on status writes",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = nil
			},
		},
		{
			name:   "bad phase",
			mutate: func(wc *controllers.WasmController) { wc.Status.Phase = "Running" },
			want: []wantError{{field.ErrorTypeNotSupported, "status.phase",
				`supported values: "Active", "Failed", "Loading", "Paused", "Pending", "Suspended"`}},
		},
		{
			name:   "negative wakes",
			mutate: func(wc *controllers.WasmController) { wc.Status.Wakes = -1 },
			want:   []wantError{{field.ErrorTypeInvalid, "status.wakes", "must not be negative"}},
		},
		{
			name: "negative counters",
			mutate: func(wc *controllers.WasmController) {
				wc.Status.ObservedGeneration = -1
				wc.Status.MemoryBytes = -1
				wc.Status.SnapshotBytes = -1
			},
			want: []wantError{
				{field.ErrorTypeInvalid, "status.observedGeneration", "must not be negative"},
				{field.ErrorTypeInvalid, "status.memoryBytes", "must not be negative"},
				{field.ErrorTypeInvalid, "status.snapshotBytes", "must not be negative"},
			},
		},
		{
			name:   "moduleDigest without sha256:",
			mutate: func(wc *controllers.WasmController) { wc.Status.ModuleDigest = digest },
			want:   []wantError{{field.ErrorTypeInvalid, "status.moduleDigest", `must be "sha256:<hex>"`}},
		},
		{
			name:   "resolvedImage without a digest",
			mutate: func(wc *controllers.WasmController) { wc.Status.ResolvedImage = "registry.example.com/c:v1" },
			want: []wantError{{field.ErrorTypeInvalid, "status.resolvedImage",
				`must be a reference by digest, "<image>@sha256:<hex>"`}},
		},
		{
			name:   "condition with a bad status",
			mutate: func(wc *controllers.WasmController) { wc.Status.Conditions[0].Status = "Maybe" },
			want:   []wantError{{field.ErrorTypeNotSupported, "status.conditions[0].status", `supported values: "False", "True", "Unknown"`}},
		},
		{
			name: "condition without reason or time",
			mutate: func(wc *controllers.WasmController) {
				wc.Status.Conditions[0].Reason = ""
				wc.Status.Conditions[0].LastTransitionTime = metav1.Time{}
			},
			want: []wantError{
				{field.ErrorTypeRequired, "status.conditions[0].lastTransitionTime", ""},
				{field.ErrorTypeRequired, "status.conditions[0].reason", ""},
			},
		},
		{
			name: "duplicate condition type",
			mutate: func(wc *controllers.WasmController) {
				wc.Status.Conditions = append(wc.Status.Conditions, wc.Status.Conditions[0])
			},
			want: []wantError{{field.ErrorTypeDuplicate, "status.conditions[1]", `"Ready"`}},
		},
		{
			name:   "name change",
			mutate: func(wc *controllers.WasmController) { wc.Name = "replicator-2" },
			want:   []wantError{{field.ErrorTypeInvalid, "metadata.name", "field is immutable"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validWasmController()
			old.Status = validStatus()
			wc := old.DeepCopy()
			tt.mutate(wc)
			checkErrors(t, ValidateWasmControllerStatusUpdate(wc, old), tt.want)
		})
	}
}

func TestValidateStatus_Phases(t *testing.T) {
	for _, phase := range []controllers.Phase{
		"", controllers.PhasePending, controllers.PhaseLoading, controllers.PhaseActive,
		controllers.PhaseSuspended, controllers.PhaseFailed, controllers.PhasePaused,
	} {
		t.Run(string(phase), func(t *testing.T) {
			s := validStatus()
			s.Phase = phase
			checkErrors(t, ValidateStatus(&s, field.NewPath("status")), nil)
		})
	}
}

// TestValidateReconciler_AgreesWithSDK: the API admits exactly the names the
// guest SDK's RegisterNamed registers, so that every name a bundle can hold
// can be selected, and no name is admitted that no bundle can hold.
func TestValidateReconciler_AgreesWithSDK(t *testing.T) {
	names := []string{"a", "ttl-cleaner", "0", "a-b-c", "r" + strings.Repeat("0", 62), "r" + strings.Repeat("0", 63),
		"-a", "a-", "A", "a.b", "a_b", "a/b", "a b", "é", "a\x00"}
	for _, name := range names {
		admitted := len(validateReconciler(name, field.NewPath("r"))) == 0
		if registrable := abi.ValidReconcilerName(name); admitted != registrable {
			t.Errorf("reconciler %q: admitted %v, but the SDK registers it: %v", name, admitted, registrable)
		}
	}
}
