package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"

	controllersfuzzer "github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/fuzzer"
)

func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, controllersfuzzer.Funcs)
}
