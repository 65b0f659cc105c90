package modules

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

func TestFetch_ConfigMapAndInline(t *testing.T) {
	wasm := wasmModule("configmap")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(wasm)
	_ = zw.Close()
	sum := sha256.Sum256(wasm)
	kube := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "modules"},
		BinaryData: map[string][]byte{"plain.wasm": wasm, "packed.wasm.gz": gz.Bytes(), "broken.gz": {0x1f, 0x8b, 0, 1}},
		Data:       map[string]string{"text": "hello"},
	})
	ref := func(key string) v1alpha1.ModuleSource {
		return v1alpha1.ModuleSource{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "modules", Key: key}}
	}
	tests := []struct {
		name       string
		src        v1alpha1.ModuleSource
		kube       bool
		wantReason string
		permanent  bool
	}{
		{name: "inline", src: v1alpha1.ModuleSource{Inline: wasm}},
		{name: "inline with matching sha256", src: v1alpha1.ModuleSource{Inline: wasm, SHA256: hex.EncodeToString(sum[:])}},
		{name: "inline with another sha256", src: v1alpha1.ModuleSource{Inline: wasm, SHA256: "00" + hex.EncodeToString(sum[1:])},
			wantReason: "DigestMismatch", permanent: true},
		{name: "configMap binaryData", src: ref("plain.wasm"), kube: true},
		{name: "configMap gzip", src: ref("packed.wasm.gz"), kube: true},
		{name: "configMap bad gzip", src: ref("broken.gz"), kube: true, wantReason: "InvalidModule", permanent: true},
		{name: "configMap missing key", src: ref("other"), kube: true, wantReason: "KeyNotFound"},
		{name: "configMap missing", src: v1alpha1.ModuleSource{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "nope", Key: "k"}},
			kube: true, wantReason: "ConfigMapNotFound"},
		{name: "configMap holding text", src: ref("text"), kube: true, wantReason: "NotWasm", permanent: true},
		{name: "configMap without a cluster", src: ref("plain.wasm"), wantReason: "NoTargetCluster", permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Spec: v1alpha1.WasmControllerSpec{Module: tt.src}}
			var clients ClientFunc // nil: no target cluster
			if tt.kube {
				clients = asAnyone(kube)
			}
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewFetcher(FetcherConfig{Store: store, ClientFor: clients}).Fetch(t.Context(), wc)
			if tt.wantReason == "" {
				if err != nil || !bytes.Equal(got.Wasm, wasm) {
					t.Fatalf("Fetch = %v, %v; want the module", got, err)
				}
				got.Release()
				return
			}
			var me *Error
			if !errors.As(err, &me) || me.Reason != tt.wantReason || me.Permanent != tt.permanent {
				t.Fatalf("error = %#v, want reason %s permanent=%v", err, tt.wantReason, tt.permanent)
			}
		})
	}
}

func TestGunzippedSizeHint(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(make([]byte, 5000))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		gz    []byte
		limit int64
		want  int64
	}{
		{name: "from the trailer", gz: gz.Bytes(), limit: 1 << 20, want: 5000},
		{name: "bounded by the limit", gz: gz.Bytes(), limit: 100, want: 100},
		{name: "too short for a trailer", gz: []byte{0x1f, 0x8b}, limit: 1 << 20, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gunzippedSizeHint(tt.gz, tt.limit); got != tt.want {
				t.Errorf("gunzippedSizeHint() = %d, want %d", got, tt.want)
			}
		})
	}
}
