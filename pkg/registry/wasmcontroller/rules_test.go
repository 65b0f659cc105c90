package wasmcontroller

import (
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// testCompiler is built once: building the CEL environments takes time. Its
// compatibility version is fixed so that the lists library's includes(),
// which arrived in 1.37, stays newer than it.
var testCompiler = sync.OnceValues(func() (*wakerule.Compiler, error) {
	return wakerule.NewCompiler(version.MajorMinor(1, 36))
})

func testRules(t *testing.T) validation.RuleChecker {
	t.Helper()
	c, err := testCompiler()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStrategy_Validate_RuleEnvironments: a wake rule using a library newer
// than the compatibility version is refused when written, yet an object
// that already stores it can be updated, and the compiler the host shares
// runs it.
func TestStrategy_Validate_RuleEnvironments(t *testing.T) {
	const rule = "['ADDED', 'MODIFIED'].includes(eventType)"
	s := NewStrategy(newScheme(t), testCeilings, testRules(t))

	wc := newWasmController()
	wc.Spec.Watches[0].WakeWhen = rule
	s.PrepareForCreate(t.Context(), wc)
	checkFields(t, s.Validate(t.Context(), wc), "spec.watches[0].wakeWhen")

	old := newWasmController()
	old.Spec.Watches[0].WakeWhen = rule // stored by a newer server
	updated := old.DeepCopy()
	updated.Spec.Paused = true
	s.PrepareForUpdate(t.Context(), updated, old)
	checkFields(t, s.ValidateUpdate(t.Context(), updated, old), "")

	c, err := testCompiler()
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Compile(wakerule.WakeWhen, rule)
	if err != nil {
		t.Fatalf("the host cannot compile the stored rule: %v", err)
	}
	if wakes, err := r.Wakes(t.Context(), wakerule.Event{Type: "ADDED", Object: map[string]any{}}); err != nil || !wakes {
		t.Errorf("Wakes = %v, %v; want true", wakes, err)
	}
}
