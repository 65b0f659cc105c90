package sharding_test

import (
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// When a replica leaves, only the controllers it owned move.
func ExampleOwner() {
	three := []string{"wasm-apiserver-0", "wasm-apiserver-1", "wasm-apiserver-2"}
	two := three[:2]
	for _, key := range []string{"default/replicator", "team-a/dns", "team-b/backup", "team-c/cleanup", "team-c/audit"} {
		fmt.Printf("%-18s %s -> %s\n", key, sharding.Owner(three, key), sharding.Owner(two, key))
	}
	// Output:
	// default/replicator wasm-apiserver-1 -> wasm-apiserver-1
	// team-a/dns         wasm-apiserver-2 -> wasm-apiserver-1
	// team-b/backup      wasm-apiserver-0 -> wasm-apiserver-0
	// team-c/cleanup     wasm-apiserver-2 -> wasm-apiserver-0
	// team-c/audit       wasm-apiserver-1 -> wasm-apiserver-1
}
