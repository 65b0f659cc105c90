package modules

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// identities is a ClientFunc that records whom it acts as: the ServiceAccount
// "reader" of "ns" reads the cluster of objects, every other one is refused
// what it gets.
type identities struct {
	reader kubernetes.Interface

	mu   sync.Mutex
	used []string
}

func (ids *identities) clientFor(namespace, serviceAccount string) (kubernetes.Interface, error) {
	ids.mu.Lock()
	ids.used = append(ids.used, namespace+"/"+serviceAccount)
	ids.mu.Unlock()
	if namespace == "ns" && serviceAccount == "reader" {
		return ids.reader, nil
	}
	denied := fake.NewClientset()
	denied.PrependReactor("get", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		get := a.(k8stesting.GetAction)
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, get.GetName(),
			nil)
	})
	return denied, nil
}

// TestFetch_ReadsAsServiceAccount checks that ConfigMaps and image pull
// Secrets are read as the WasmController's ServiceAccount, and that a
// refusal says what was read and as whom, and nothing of the content.
func TestFetch_ReadsAsServiceAccount(t *testing.T) {
	private := modulestest.NewPrivateRegistry(t, "robot", "s3cret")
	wasm := wasmModule("configmap-secret")
	if _, err := Push(t.Context(), wasm, modulestest.Reference(t, private.Ref("ctl/app:v1")), private.Auth()...); err != nil {
		t.Fatal(err)
	}
	ids := &identities{reader: fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "modules"}, BinaryData: map[string][]byte{"m.wasm": wasm}},
		dockerConfigSecret("pull", private.Host, "robot", "s3cret", false),
	)}
	fromConfigMap := v1alpha1.ModuleSource{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "modules", Key: "m.wasm"}}
	fromImage := v1alpha1.ModuleSource{Image: private.Ref("ctl/app:v1"), ImagePullSecrets: []v1alpha1.LocalObjectReference{{Name: "pull"}}}
	tests := []struct {
		name           string
		serviceAccount string
		module         v1alpha1.ModuleSource
		wantIdentity   string
		wantReason     string
		wantMessage    string
	}{
		{name: "configMapRef as its ServiceAccount", serviceAccount: "reader", module: fromConfigMap, wantIdentity: "ns/reader"},
		{name: "configMapRef as the default ServiceAccount", module: fromConfigMap, wantIdentity: "ns/default",
			wantReason: ReasonForbidden, wantMessage: "system:serviceaccount:ns:default may not get configmap ns/modules"},
		{name: "configMapRef the ServiceAccount may not read", serviceAccount: "other", module: fromConfigMap, wantIdentity: "ns/other",
			wantReason: ReasonForbidden, wantMessage: "system:serviceaccount:ns:other may not get configmap ns/modules"},
		{name: "pull secret as its ServiceAccount", serviceAccount: "reader", module: fromImage, wantIdentity: "ns/reader"},
		{name: "pull secret the ServiceAccount may not read", serviceAccount: "other", module: fromImage, wantIdentity: "ns/other",
			wantReason: ReasonForbidden, wantMessage: "system:serviceaccount:ns:other may not get secret ns/pull"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids.mu.Lock()
			ids.used = nil
			ids.mu.Unlock()
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
				Spec: v1alpha1.WasmControllerSpec{ServiceAccountName: tt.serviceAccount, Module: tt.module}}
			m, err := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true, ClientFor: ids.clientFor}).Fetch(t.Context(), wc)
			if diff := cmp.Diff([]string{tt.wantIdentity}, ids.used); diff != "" {
				t.Errorf("identities used (-want +got):\n%s", diff)
			}
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				m.Release()
				return
			}
			if ReasonOf(err) != tt.wantReason || IsPermanent(err) {
				t.Fatalf("Fetch error = %v (reason %s), want the retried reason %s", err, ReasonOf(err), tt.wantReason)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) || strings.Contains(err.Error(), "robot") {
				t.Fatalf("Fetch error = %q, want it to say %q and nothing of the content", err, tt.wantMessage)
			}
		})
	}
}

// TestServiceAccountClients_Impersonate reads a ConfigMap through an API
// server that answers only the impersonated ServiceAccount "reader".
func TestServiceAccountClients_Impersonate(t *testing.T) {
	wasm := wasmModule("impersonated")
	var (
		mu     sync.Mutex
		groups []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		groups = append(groups, r.Header.Values("Impersonate-Group")...)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Impersonate-User") != "system:serviceaccount:ns:reader" ||
			r.URL.Path != "/api/v1/namespaces/ns/configmaps/modules" {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(&apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "modules", nil).ErrStatus)
			return
		}
		_ = json.NewEncoder(w).Encode(&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "modules"}, BinaryData: map[string][]byte{"m.wasm": wasm}})
	}))
	t.Cleanup(api.Close)
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true, Cluster: &rest.Config{Host: api.URL}})
	for _, tt := range []struct {
		serviceAccount string
		wantReason     string
	}{{serviceAccount: "reader"}, {serviceAccount: "other", wantReason: ReasonForbidden}, {serviceAccount: "reader"}} {
		wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
			Spec: v1alpha1.WasmControllerSpec{ServiceAccountName: tt.serviceAccount, Module: v1alpha1.ModuleSource{
				ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "modules", Key: "m.wasm"}}}}
		m, err := f.Fetch(t.Context(), wc)
		if ReasonOf(err) != tt.wantReason {
			t.Fatalf("Fetch as %s: %v, want reason %q", tt.serviceAccount, err, tt.wantReason)
		}
		if err == nil {
			m.Release()
		}
	}
	if len(groups) != 0 {
		t.Errorf("groups impersonated: %q; the API server gives a ServiceAccount its own", groups)
	}
}
