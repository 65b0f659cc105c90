package sdk

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// TestDoc_ABIVersion: the package documentation names the ABI version the
// SDK speaks, which is what its marker export says.
func TestDoc_ABIVersion(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("speaks guest ABI version %d (abi.Version)", abi.Version),
		fmt.Sprintf("%s%d", abi.MarkerPrefix, abi.Version),
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("doc.go does not say %q", want)
		}
	}
}
