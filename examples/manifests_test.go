// Package examples checks the manifests of the example controllers: every
// WasmController passes the API's own validation (wake rules compile), and
// every manifest decodes.
package examples

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/install"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/cmd/server"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/registry/wasmcontroller"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// decodeAll decodes every YAML document of a file into unstructured objects.
func decodeAll(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := yaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// admit decodes the one WasmController of the manifest at path, defaults it
// and validates it as a server with the default ceilings admits it.
func admit(t *testing.T, path string) *v1alpha1.WasmController {
	t.Helper()
	scheme := runtime.NewScheme()
	install.Install(scheme)
	wakeRules, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, path)
	if len(objs) != 1 || objs[0].GetKind() != "WasmController" {
		t.Fatalf("want one WasmController, found %d objects", len(objs))
	}
	versioned := &v1alpha1.WasmController{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(objs[0].Object, versioned, true); err != nil {
		t.Fatal(err)
	}
	scheme.Default(versioned)
	internal := &controllers.WasmController{}
	if err := scheme.Convert(versioned, internal, nil); err != nil {
		t.Fatal(err)
	}
	ceilings, err := server.NewCeilingOptions().Ceilings()
	if err != nil {
		t.Fatal(err)
	}
	strategy := wasmcontroller.NewStrategy(scheme, ceilings, wakeRules)
	strategy.PrepareForCreate(t.Context(), internal)
	if errs := strategy.Validate(t.Context(), internal); len(errs) > 0 {
		t.Errorf("invalid: %v", errs.ToAggregate())
	}
	return versioned
}

// largeExamples are the examples built on client-go or controller-runtime,
// whose modules are too large for a ConfigMap: they name an OCI image.
var largeExamples = map[string]bool{"sample-controller": true, "memcached-operator": true}

func TestWasmControllers(t *testing.T) {
	paths, err := filepath.Glob("*/wasmcontroller.yaml")
	if err != nil || len(paths) != 5 {
		t.Fatalf("found %v (%v), want the five examples' wasmcontroller.yaml", paths, err)
	}
	for _, path := range paths {
		t.Run(filepath.Dir(path), func(t *testing.T) {
			versioned := admit(t, path)
			// A client-go guest fits no ConfigMap: it names an image.
			if largeExamples[filepath.Dir(path)] {
				if versioned.Spec.Module.Image == "" {
					t.Errorf("module source = %+v, want an image", versioned.Spec.Module)
				}
				return
			}
			ref := versioned.Spec.Module.ConfigMapRef
			if want := filepath.Dir(path) + "-module"; ref == nil || ref.Name != want || ref.Key != "module.wasm.gz" {
				t.Errorf("module source = %+v, want configMapRef %s key module.wasm.gz", versioned.Spec.Module, want)
			}
		})
	}
}

func TestManifests(t *testing.T) {
	paths, err := filepath.Glob("*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			for _, o := range decodeAll(t, path) {
				if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
					t.Errorf("object without apiVersion, kind or name: %v", o.Object)
				}
			}
		})
	}
}
