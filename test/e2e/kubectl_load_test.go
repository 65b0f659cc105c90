//go:build e2e

package e2e

import (
	"context"
	"sync"
	"testing"
	"time"
)

// kubectlCall is one kubectl run of the load: when it started and ended,
// and its error and output.
type kubectlCall struct {
	what       string
	start, end time.Time
	err        error
	out        string
}

// appliedController is the WasmController the load applies, with a value
// that changes at each apply; its module ConfigMap does not exist.
func appliedController(name string, seq int) string {
	return `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: ` + name + `, namespace: default}
spec:
  module:
    configMapRef: {name: no-such-module, key: module.wasm}
  serviceAccountName: default
  env: [{name: SEQ, value: "` + itoa(seq) + `"}]
  watches: [{apiVersion: v1, kind: ConfigMap, namespace: default}]
`
}

// kubectlLoad is what a user does through the aggregator while replicas
// come and go: kubectl lists the WasmControllers of default in one loop
// and applies the WasmController name with a new value in another, each
// run timed and kept.
type kubectlLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	calls  []kubectlCall
}

// startKubectlLoad starts the two loops as admin; cacheDir is kubectl's
// discovery cache.
func startKubectlLoad(t *testing.T, admin, cacheDir, name string) *kubectlLoad {
	ctx, cancel := context.WithCancel(t.Context())
	l := &kubectlLoad{cancel: cancel}
	loop := func(what string, args func(seq int) (stdin string, args []string)) {
		for seq := 1; ctx.Err() == nil; seq++ {
			stdin, a := args(seq)
			start := time.Now()
			out, err := kubectl(t, admin, stdin, append([]string{"--cache-dir=" + cacheDir, "--request-timeout=10s"}, a...)...)
			l.mu.Lock()
			l.calls = append(l.calls, kubectlCall{what: what, start: start, end: time.Now(), err: err, out: out})
			l.mu.Unlock()
		}
	}
	l.wg.Go(func() {
		loop("get", func(int) (string, []string) { return "", []string{"get", "wc", "-n", "default"} })
	})
	l.wg.Go(func() {
		loop("apply", func(seq int) (string, []string) { return appliedController(name, seq), []string{"apply", "-f", "-"} })
	})
	return l
}

// stop ends the loops once their runs in flight end, and returns every
// run.
func (l *kubectlLoad) stop() []kubectlCall {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}
