package host

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// reconcile runs one reconcile on an idle instance, or a new one.
func (c *controller) reconcile(ctx context.Context, key wakeKey, reason string) (wasmruntime.Result, error) {
	inst, err := c.instance(ctx)
	if err != nil {
		return wasmruntime.Result{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.wc.Spec.Limits.ReconcileTimeout.Duration)
	defer cancel()
	res, err := inst.Reconcile(rctx, wasmruntime.Request{Namespace: key.Namespace, Name: key.Name, Reason: reason})
	if !inst.Closed() && c.wc.Spec.Suspend.Policy != v1alpha1.SuspendImmediate {
		c.instances <- inst // never blocks: there are no more instances than workers
		return res, err
	}
	c.closeInstance(ctx, inst)
	return res, err
}

// instance takes an idle instance or starts one.
func (c *controller) instance(ctx context.Context) (*wasmruntime.Instance, error) {
	select {
	case inst := <-c.instances:
		return inst, nil
	default:
	}
	env := map[string]string{}
	for _, e := range c.wc.Spec.Env {
		env[e.Name] = e.Value
	}
	inst, err := c.module.Instantiate(ctx, wasmruntime.InstanceConfig{
		Name:        klog.KObj(c.wc).String(),
		Env:         env,
		MemoryLimit: uint64(c.wc.Spec.Limits.Memory.Value()),
		API:         c.api,
		Logger:      c.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("starting guest: %w", err)
	}
	c.residentMu.Lock()
	c.resident[inst] = struct{}{}
	c.residentMu.Unlock()
	return inst, nil
}

func (c *controller) closeInstance(ctx context.Context, inst *wasmruntime.Instance) {
	inst.Close(ctx)
	c.residentMu.Lock()
	delete(c.resident, inst)
	c.residentMu.Unlock()
}

// closeInstances closes every idle instance.
func (c *controller) closeInstances() {
	for len(c.instances) > 0 {
		c.closeInstance(context.Background(), <-c.instances)
	}
}

// memoryBytes is the linear memory of the controller's open instances.
func (c *controller) memoryBytes() int64 {
	c.residentMu.Lock()
	defer c.residentMu.Unlock()
	var total int64
	for inst := range c.resident {
		total += int64(inst.MemoryBytes()) // 0 once closed
	}
	return total
}
