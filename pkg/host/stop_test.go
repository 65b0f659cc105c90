package host

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestController_StopIsBounded: stopping a controller whose guest ignores
// being cancelled returns after its reconcile timeout and a grace, not
// when the guest returns; when it does return, nothing is reported about
// the controller that is gone.
func TestController_StopIsBounded(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 1},
		Spec: v1alpha1.WasmControllerSpec{Limits: v1alpha1.Limits{ReconcileTimeout: &metav1.Duration{Duration: 100 * time.Millisecond}}}}
	client := fake.NewSimpleClientset(wc)
	clock := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	recorder := record.NewFakeRecorder(10)
	env := newTestServices(testServices{clock: clock, recorder: recorder})
	c := newController(env, wc, nil, newStatusWriter(client, clock, wc))
	c.status.start(c.ctx)
	running, returns := make(chan struct{}), make(chan struct{})
	c.run = func(context.Context, *turn, wakeKey, string) (wasmruntime.Result, error) {
		close(running)
		<-returns // sleeps through its cancellation
		return wasmruntime.Result{}, &wasmruntime.GuestError{Message: "late"}
	}
	key := wakeKey{"ns", "obj"}
	c.queue.startTurn()
	go func() {
		defer c.queue.endTurn()
		c.process(&turn{}, key)
	}()
	<-running

	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		c.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(c.stopWait() + 5*time.Second):
		close(returns)
		t.Fatalf("stop waited more than %v for a guest that ignores its cancellation", time.Since(start))
	}
	if took, bound := time.Since(start), c.stopWait()+time.Second; took > bound {
		t.Errorf("stop took %v, want at most %v", took, bound)
	}

	client.ClearActions()
	close(returns)
	env.lingering.Wait()
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d requests about the stopped controller after its guest returned: %v", n, client.Actions())
	}
	select {
	case e := <-recorder.Events:
		t.Errorf("Event about the stopped controller: %s", e)
	default:
	}
}

func TestController_StopWait(t *testing.T) {
	tests := []struct {
		name    string
		timeout *metav1.Duration
		want    time.Duration
	}{
		{name: "no timeout", want: stopGrace},
		{name: "short timeout", timeout: &metav1.Duration{Duration: time.Second}, want: time.Second + stopGrace},
		{name: "long timeout", timeout: &metav1.Duration{Duration: time.Hour}, want: maxStopWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &controller{wc: &v1alpha1.WasmController{Spec: v1alpha1.WasmControllerSpec{Limits: v1alpha1.Limits{ReconcileTimeout: tt.timeout}}}}
			if got := c.stopWait(); got != tt.want {
				t.Errorf("stopWait = %v, want %v", got, tt.want)
			}
		})
	}
}
