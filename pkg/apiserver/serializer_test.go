package apiserver

import (
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
)

// TestWithoutProtobuf: a client that prefers protobuf and accepts JSON, as
// kube-controller-manager's metadata client does when it deletes a
// namespace's WasmControllers, is answered in JSON.
func TestWithoutProtobuf(t *testing.T) {
	tests := []struct {
		accept, want string
		wantErr      bool
	}{
		{accept: "application/vnd.kubernetes.protobuf,application/json", want: runtime.ContentTypeJSON},
		{accept: "application/vnd.kubernetes.protobuf, */*", want: runtime.ContentTypeJSON},
		{accept: "application/yaml", want: runtime.ContentTypeYAML},
		{accept: "application/vnd.kubernetes.protobuf", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/apis/controllers.wasm.io/v1alpha1/wasmcontrollers", nil)
			req.Header.Set("Accept", tt.accept)
			_, info, err := negotiation.NegotiateOutputMediaType(req, newWithoutProtobuf(Codecs), negotiation.DefaultEndpointRestrictions)
			if (err != nil) != tt.wantErr {
				t.Fatalf("negotiating %q: %v, want error %v", tt.accept, err, tt.wantErr)
			}
			if err == nil && info.MediaType != tt.want {
				t.Errorf("negotiated %q for %q, want %q", info.MediaType, tt.accept, tt.want)
			}
		})
	}
}
