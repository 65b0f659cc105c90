package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// TestBundle: the bundle registers each example on the sdk alone (not the
// client-go ones, largeExamples) by the example's name, and
// its manifests are the examples' WasmControllers with the bundle as their
// module and the example's reconciler selected, so they cannot drift from
// the examples they run.
func TestBundle(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("bundle", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, m := range regexp.MustCompile(`sdk\.RegisterNamed\("([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		registered = append(registered, m[1])
	}
	examples, err := filepath.Glob("*/wasmcontroller.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range examples {
		if !largeExamples[filepath.Dir(p)] {
			want = append(want, filepath.Dir(p))
		}
	}
	slices.Sort(registered)
	if diff := cmp.Diff(want, registered); diff != "" {
		t.Fatalf("the bundle registers (-examples +registered):\n%s", diff)
	}

	manifests, err := filepath.Glob(filepath.Join("bundle", "*.yaml"))
	if err != nil || len(manifests) != len(want) {
		t.Fatalf("found %v (%v), want a manifest per example", manifests, err)
	}
	for _, path := range manifests {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := admit(t, path)
			example := admit(t, filepath.Join(name, "wasmcontroller.yaml"))
			if got.Name != "bundle-"+name || got.Spec.Module.Reconciler != name || got.Spec.Module.Image == "" {
				t.Errorf("name %s, module %+v; want bundle-%s, an image and reconciler %s", got.Name, got.Spec.Module, name, name)
			}
			got.Spec.Module, example.Spec.Module = v1alpha1.ModuleSource{}, v1alpha1.ModuleSource{}
			if diff := cmp.Diff(example.Spec, got.Spec); diff != "" {
				t.Errorf("the spec differs from the example's but for the module (-example +bundle):\n%s", diff)
			}
		})
	}
}
