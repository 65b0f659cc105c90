package validation

import (
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// testCompiler is built once: building the CEL environments takes time. Its
// compatibility version is fixed so that what is new stays new as
// Kubernetes moves on: the lists library's includes() arrived in 1.37.
var testCompiler = sync.OnceValues(func() (*wakerule.Compiler, error) {
	return wakerule.NewCompiler(version.MajorMinor(1, 36))
})

func testRules(t *testing.T) RuleChecker {
	t.Helper()
	c, err := testCompiler()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newerRule uses a library newer than the test compiler's compatibility
// version: a server rolled back to that version could not compile it.
const newerRule = "['ADDED', 'MODIFIED'].includes(eventType)"

// TestValidateWasmController_RuleEnvironments: a wake rule is checked at
// admission in the environment of new expressions, so a rule a rolled-back
// server cannot compile is refused; a rule the stored object already has is
// checked as stored (it still runs), so an update that keeps it is accepted.
func TestValidateWasmController_RuleEnvironments(t *testing.T) {
	withRules := func(wakeWhen, enqueue string) *controllers.WasmController {
		wc := validWasmController()
		wc.Spec.Watches[0].WakeWhen = wakeWhen
		wc.Spec.Watches[0].Enqueue = enqueue
		return wc
	}
	const enqueue = "[object.metadata.name].includes('a') ? 'ns/a' : 'ns/b'"
	tests := []struct {
		name string
		old  *controllers.WasmController // nil: a create
		wc   *controllers.WasmController
		want []wantError
	}{
		{name: "create with a newer library", wc: withRules(newerRule, ""),
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "includes"}}},
		{name: "create with a newer library in enqueue", wc: withRules("", enqueue),
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].enqueue", "includes"}}},
		{name: "update keeping a stored rule", old: withRules(newerRule, enqueue), wc: withRules(newerRule, enqueue)},
		{name: "update keeping a stored rule moved to another watch",
			old: withRules(newerRule, ""),
			wc: func() *controllers.WasmController {
				wc := withRules("", "")
				wc.Spec.Watches = append(wc.Spec.Watches, controllers.Watch{APIVersion: "v1", Kind: "Secret", WakeWhen: newerRule})
				return wc
			}()},
		{name: "update writing a newer rule", old: withRules("", ""), wc: withRules(newerRule, ""),
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "includes"}}},
		{name: "update moving a stored rule to another field", old: withRules(newerRule, ""),
			wc:   withRules("", "['ADDED'].includes(eventType) ? 'ns/a' : 'ns/b'"),
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].enqueue", "includes"}}},
		{name: "update keeping a rule wrong in both environments", old: withRules("eventType.nope()", ""), wc: withRules("eventType.nope()", ""),
			want: []wantError{{field.ErrorTypeInvalid, "spec.watches[0].wakeWhen", "nope"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.old == nil {
				checkErrors(t, ValidateWasmController(tt.wc, Ceilings{}, testRules(t)), tt.want)
				return
			}
			checkErrors(t, ValidateWasmControllerUpdate(tt.wc, tt.old, Ceilings{}, testRules(t)), tt.want)
		})
	}
}
