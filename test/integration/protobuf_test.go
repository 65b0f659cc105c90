package integration

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// TestServer_ProtobufPreferringClient: a client that prefers protobuf and
// accepts JSON, as kube-controller-manager's metadata client does when the
// namespace controller deletes a namespace's WasmControllers and the
// garbage collector watches them, lists and deletes them.
func TestServer_ProtobufPreferringClient(t *testing.T) {
	s := startServer(t, t.TempDir())
	for _, name := range []string{"first", "second"} {
		s.mustKubectl(t, fmt.Sprintf(minimalWC, name), "apply", "-f", "-")
	}
	client, err := metadata.NewForConfig(s.Config) // protobuf first, as metadata.ConfigFor sets it
	if err != nil {
		t.Fatal(err)
	}
	wcs := client.Resource(v1alpha1.SchemeGroupVersion.WithResource("wasmcontrollers")).Namespace("default")

	list, err := wcs.List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("metadata List: %v, %v", list, err)
	}
	// The whole objects, as a clientset configured for protobuf asks.
	body, err := s.Client.ControllersV1alpha1().RESTClient().Get().AbsPath("/apis/controllers.wasm.io/v1alpha1/namespaces/default/wasmcontrollers").
		SetHeader("Accept", "application/vnd.kubernetes.protobuf,application/json").DoRaw(t.Context())
	if err != nil || !strings.Contains(string(body), `"kind":"WasmControllerList"`) {
		t.Fatalf("List preferring protobuf: %v\n%.300s", err, body)
	}
	if err := wcs.DeleteCollection(t.Context(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatalf("metadata DeleteCollection: %v", err)
	}
	if list, err := wcs.List(t.Context(), metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Errorf("after DeleteCollection: %v, %v; want none left", list, err)
	}
}
