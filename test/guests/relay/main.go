// Command relay is a controller made for make bench-system's chain: it
// forwards the data of ConfigMap hop-<i> to ConfigMap hop-<i+1> in the same
// namespace, where i is its RELAY_HOP environment variable. A chain of such
// controllers, each woken by its own hop, carries one write from hop-0 to the
// end. test/benchsystem/native-relay is the same controller as a native
// client-go program.
//
// Its WasmController watches the ConfigMaps labelled bench.wasm.io/hop=<i>;
// the reconcile reads the hop from the cache and writes the next with one
// server-side apply.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// hopLabel carries the hop number of a ConfigMap of the chain.
const hopLabel = "bench.wasm.io/hop"

func init() {
	hop, err := strconv.Atoi(os.Getenv("RELAY_HOP"))
	if err != nil {
		sdk.Error(err, "RELAY_HOP must be a number", "value", os.Getenv("RELAY_HOP"))
		hop = -1
	}
	sdk.Register(&relay{client: sdk.DefaultClient, hop: hop})
}

func main() {}

type relay struct {
	client *sdk.Client
	hop    int
}

// Reconcile implements sdk.Reconciler.
func (r *relay) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	if r.hop < 0 || req.Name != hopName(r.hop) {
		return sdk.Result{}, nil
	}
	in, err := r.client.Get(ctx, sdk.ConfigMaps, req.Namespace, req.Name)
	if sdk.IsNotFound(err) {
		return sdk.Result{}, nil
	}
	if err != nil {
		return sdk.Result{}, err
	}
	out := sdk.NewObject("v1", "ConfigMap", req.Namespace, hopName(r.hop+1))
	out.SetLabels(map[string]string{hopLabel: strconv.Itoa(r.hop + 1)})
	if data, ok := in.NestedMap("data"); ok {
		_ = out.SetNestedField(data, "data")
	}
	_, err = r.client.Patch(ctx, sdk.ConfigMaps, req.Namespace, out.GetName(), sdk.ApplyPatch, out,
		sdk.FieldManager("relay"), sdk.Force)
	return sdk.Result{}, err
}

func hopName(i int) string { return fmt.Sprintf("hop-%d", i) }
