package host

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestHost_StartReportsModuleFailures checks that each way an image fails
// becomes its own ModuleLoaded reason and Warning Event, that permanent
// failures wait for a spec change, and that nothing is compiled or run.
func TestHost_StartReportsModuleFailures(t *testing.T) {
	open, private := modulestest.NewRegistry(t), modulestest.NewPrivateRegistry(t, "robot", "s3cret")
	wasm := modulestest.WasmModule("controller")
	open.Push(t, open.Ref("ctl/not-wasm:v1"), modules.MediaTypeWasmConfig,
		modulestest.Layer{MediaType: modules.MediaTypeWasmLayer, Bytes: []byte("MZ not wasm at all")})
	open.Push(t, open.Ref("ctl/large:v1"), modules.MediaTypeWasmConfig,
		modulestest.Layer{MediaType: modules.MediaTypeWasmLayer, Bytes: append(modulestest.WasmModule("large"), make([]byte, 2048)...)})
	open.Push(t, open.Ref("ctl/container:v1"), types.OCIConfigJSON,
		modulestest.Layer{MediaType: types.OCILayer, Bytes: []byte("a")}, modulestest.Layer{MediaType: types.OCILayer, Bytes: []byte("b")})
	if _, err := modules.Push(t.Context(), wasm, modulestest.Reference(t, open.Ref("ctl/good:v1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := modules.Push(t.Context(), wasm, modulestest.Reference(t, private.Ref("ctl/good:v1")), private.Auth()...); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		module     v1alpha1.ModuleSource
		wantReason string
		permanent  bool
	}{
		{name: "wrong digest", module: v1alpha1.ModuleSource{Image: open.Ref("ctl/good:v1"), SHA256: fmt.Sprintf("%064x", 1)},
			wantReason: modules.ReasonDigestMismatch, permanent: true},
		{name: "missing image", module: v1alpha1.ModuleSource{Image: open.Ref("ctl/missing:v1")}, wantReason: modules.ReasonImageNotFound},
		{name: "unauthorized", module: v1alpha1.ModuleSource{Image: private.Ref("ctl/good:v1")}, wantReason: modules.ReasonUnauthorized},
		{name: "oversized", module: v1alpha1.ModuleSource{Image: open.Ref("ctl/large:v1")}, wantReason: modules.ReasonModuleTooLarge, permanent: true},
		{name: "not Wasm", module: v1alpha1.ModuleSource{Image: open.Ref("ctl/not-wasm:v1")}, wantReason: modules.ReasonNotWasm, permanent: true},
		{name: "container image", module: v1alpha1.ModuleSource{Image: open.Ref("ctl/container:v1")},
			wantReason: modules.ReasonUnsupportedArtifact, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 1},
				Spec: v1alpha1.WasmControllerSpec{Module: tt.module}}
			h, rt, client, recorder := newLoadingHost(t, wc, 1024)

			c, err := h.start(t.Context(), wc)
			if c != nil || err == nil {
				t.Fatalf("start = %v, %v; want a failure", c, err)
			}
			if got := isPermanent(err); got != tt.permanent {
				t.Errorf("isPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if n := rt.LoadedModules(); n != 0 {
				t.Errorf("%d modules compiled, want none", n)
			}
			got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionModuleLoaded)
			if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != tt.wantReason {
				t.Errorf("ModuleLoaded condition = %+v, want False with reason %s", cond, tt.wantReason)
			}
			if got.Status.Phase != v1alpha1.PhaseFailed || got.Status.ModuleDigest != "" {
				t.Errorf("phase %s, moduleDigest %q; want Failed and none", got.Status.Phase, got.Status.ModuleDigest)
			}
			select {
			case e := <-recorder.Events:
				if !strings.HasPrefix(e, "Warning "+tt.wantReason+" ") {
					t.Errorf("Event %q, want a Warning with reason %s", e, tt.wantReason)
				}
			default:
				t.Errorf("no Event recorded")
			}
		})
	}
}

// TestHost_StartCutShortReportsNothing: a load that the host's stop cuts
// short writes no status and sends no Event: the failure may be the stop's.
func TestHost_StartCutShortReportsNothing(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 1}}
	client := fake.NewSimpleClientset(wc)
	recorder := record.NewFakeRecorder(10)
	h := newTestHost(Config{Controllers: client}, testServices{recorder: recorder})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if c, err := h.start(ctx, wc); c != nil || err == nil {
		t.Fatalf("start = %v, %v; want a failure", c, err)
	}
	select {
	case e := <-recorder.Events:
		t.Errorf("Event %q for a load cut short by the stop", e)
	default:
	}
	got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != "" || len(got.Status.Conditions) != 0 {
		t.Errorf("status %+v written for a load cut short by the stop", got.Status)
	}
}

// TestHost_StartBoundsModuleMessages: a module's own bytes in a load
// failure (here an import's name of 100 KB) reach status and Events cut to
// the bound of every failure message.
func TestHost_StartBoundsModuleMessages(t *testing.T) {
	leb := func(n int) []byte {
		var b []byte
		for {
			c := byte(n & 0x7f)
			if n >>= 7; n == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	section := func(id byte, content []byte) []byte {
		return append(append([]byte{id}, leb(len(content))...), content...)
	}
	name := strings.Repeat("x", 100<<10)
	imports := append(append([]byte{1}, leb(len(name))...), name...)
	imports = append(append(append(imports, 1), 'f'), 0, 0) // field "f", a function of type 0
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), section(1, []byte{1, 0x60, 0, 0})...)
	wasm = append(wasm, section(2, imports)...)

	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(t.Context())
	store, err := modules.OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 1},
		Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{Inline: wasm}}}
	client := fake.NewSimpleClientset(wc)
	recorder := record.NewFakeRecorder(10)
	h := newTestHost(Config{Runtime: rt, Controllers: client, Cluster: &rest.Config{}}, testServices{recorder: recorder})
	h.fetcher = modules.NewFetcher(modules.FetcherConfig{Store: store, MaxModuleBytes: 1 << 20, AllowLocalSources: true})
	if c, err := h.start(t.Context(), wc); c != nil || err == nil {
		t.Fatalf("start = %v, %v; want a failure", c, err)
	}
	got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionModuleLoaded)
	if cond == nil || cond.Reason != ReasonInvalidModule {
		t.Fatalf("ModuleLoaded = %+v, want %s", cond, ReasonInvalidModule)
	}
	for what, msg := range map[string]string{"lastError": got.Status.LastError, "condition": cond.Message, "Event": <-recorder.Events} {
		if len(msg) > maxErrorBytes+64 {
			t.Errorf("%s of %d bytes, want at most about %d", what, len(msg), maxErrorBytes)
		}
	}
}

// newLoadingHost is a host that loads wc's module with a runtime, a module
// store and a fetcher of its own (modules up to maxModuleBytes), and
// records its status writes in client and its Events in recorder.
func newLoadingHost(t *testing.T, wc *v1alpha1.WasmController, maxModuleBytes int64) (*Host, *wasmruntime.Runtime, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	store, err := modules.OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewSimpleClientset(wc)
	recorder := record.NewFakeRecorder(10)
	h := newTestHost(Config{Runtime: rt, Controllers: client, Cluster: &rest.Config{}}, testServices{recorder: recorder})
	h.fetcher = modules.NewFetcher(modules.FetcherConfig{Store: store, MaxModuleBytes: maxModuleBytes, AllowLocalSources: true})
	return h, rt, client, recorder
}
