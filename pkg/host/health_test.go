package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// TestController_ProcessKeepsKeysOutOfStatus: status and Events, which
// whoever reads the WasmController reads, carry neither the reconciled key
// (an enqueue rule may build it from a Secret's data) nor the guest's
// stack trace; lastError and Ready still say what failed.
func TestController_ProcessKeepsKeysOutOfStatus(t *testing.T) {
	const secret = "hunter2-password"
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "c", Generation: 1}}
	client := fake.NewSimpleClientset(wc)
	clock := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	recorder := record.NewFakeRecorder(10)
	env := newTestServices(testServices{clock: clock, recorder: recorder})
	c := newController(env, wc, nil, newStatusWriter(client, clock, wc))
	defer c.cancel()
	c.run = func(context.Context, *turn, wakeKey, string) (wasmruntime.Result, error) {
		return wasmruntime.Result{}, &wasmruntime.GuestError{Message: "GET /api/v1/namespaces/kube-system/secrets/" + secret +
			": status 404 NotFound\nwasm stack trace:\n\tmain.reconcile\n\tmain.main\n\truntime.main"}
	}
	key := wakeKey{Namespace: "kube-system", Name: secret}
	for range failingAfter {
		processOnce(c, key)
	}
	got, ready := flushedReady(t, c, client)
	if ready == nil || ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "status 404 NotFound") {
		t.Errorf("Ready = %+v, want False with the guest's error", ready)
	}
	if got.Status.LastWakeReason != "event" || !strings.Contains(got.Status.LastError, "status 404 NotFound") {
		t.Errorf("lastWakeReason %q, lastError %q; want the reason alone and the error", got.Status.LastWakeReason, got.Status.LastError)
	}
	published := fmt.Sprintf("%+v", got.Status)
	close(recorder.Events)
	for e := range recorder.Events {
		published += "\n" + e
	}
	for _, leak := range []string{secret, "runtime.main"} {
		if strings.Contains(published, leak) {
			t.Errorf("status or Events hold %q:\n%s", leak, published)
		}
	}
}

func TestCompactError(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "one line", in: "reconcile failed", want: "reconcile failed"},
		{name: "trap with a stack trace", in: "guest trapped: wasm error: unreachable\nwasm stack trace:\n\tmain.a\n\tmain.b\n\tmain.c",
			want: "guest trapped: wasm error: unreachable | wasm stack trace: | main.a | …"},
		{name: "too long", in: strings.Repeat("é", maxErrorBytes), want: strings.Repeat("é", maxErrorBytes/2) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compactError(errors.New(tt.in)); got != tt.want {
				t.Errorf("compactError = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRuleFailure: a failed evaluation is reported with its rule, never
// with the values CEL quotes from the object.
func TestRuleFailure(t *testing.T) {
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := compiler.Compile(wakerule.Enqueue, "['ns/' + object.data[object.data.pointer]]")
	if err != nil {
		t.Fatal(err)
	}
	_, err = rule.Keys(t.Context(), wakerule.Event{Type: "ADDED",
		Object: map[string]any{"data": map[string]any{"pointer": "hunter2-password"}}})
	if err == nil {
		t.Fatal("the rule did not fail")
	}
	got := ruleFailure(err)
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "object.data.pointer") {
		t.Errorf("ruleFailure(%q) = %q, want the rule without the value", err, got)
	}
}

// processOnce wakes key and runs its reconcile, as the scheduler would.
func processOnce(c *controller, key wakeKey) {
	c.enqueue(key, "event")
	c.queue.get()
	var t turn
	c.process(&t, key)
	c.endTurn(&t)
	c.queue.done(key)
}

// flushedReady writes c's status and returns the object and its Ready
// condition as stored.
func flushedReady(t *testing.T, c *controller, client *fake.Clientset) (*v1alpha1.WasmController, *metav1.Condition) {
	t.Helper()
	c.status.flush(t.Context())
	got, err := client.ControllersV1alpha1().WasmControllers(c.wc.Namespace).Get(t.Context(), c.wc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
}
