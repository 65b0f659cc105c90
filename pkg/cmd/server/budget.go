package server

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// Budgets of compiled guest code and of templates of initialized guest
// memory when --compiled-module-budget and --template-budget are not set:
// a share of the memory the server is given, or a fixed amount when it is
// given no limit.
const (
	// compiledBudgetShare of the memory limit goes to compiled code; the
	// rest is the server itself, resident guests and the informers' caches.
	compiledBudgetShare = 0.5
	// unlimitedCompiledBudget is the budget of a server with no memory limit.
	unlimitedCompiledBudget = 256 << 20
	// templateBudgetShare of the memory limit goes to templates, at most
	// runtime.DefaultTemplateBudgetBytes (also the budget of a server with
	// no memory limit): 64Mi of a 512Mi edge node's server.
	templateBudgetShare = 0.125
	// DefaultCompiledModuleIdleUnload is how long a module may go without
	// a guest in memory before it gives up its compiled code
	// (--compiled-module-idle-unload): long enough that a controller
	// woken every few minutes keeps it, short enough that a node's
	// quiet controllers cost only their state. The wake after pays the
	// reload, ~50 ms for a small Go guest (docs/benchmarks.md).
	DefaultCompiledModuleIdleUnload = 10 * time.Minute
	// DefaultSpareInstanceIdle is how long a spare instance waits for a
	// wake (--spare-instance-idle): a controller woken every few seconds
	// finds one, and a quiet server has closed its spares before it
	// gives its free memory back, 30 s after its work stopped.
	DefaultSpareInstanceIdle = 10 * time.Second
	// noMemoryLimit is at or above what cgroup v1 reports for "no limit".
	noMemoryLimit = 1 << 62
)

// memoryLimit returns the memory limit of a server whose cgroup filesystem
// is at root ("/sys/fs/cgroup"): cgroup v2 memory.max, or v1
// memory.limit_in_bytes; 0 when it has none.
func memoryLimit(root string) int64 {
	for _, f := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= noMemoryLimit { // "max", or v1's no limit
			continue
		}
		return v
	}
	return 0
}

// compiledBudget resolves --compiled-module-budget: its quantity when set,
// else compiledBudgetShare of the memory the server is given, or
// unlimitedCompiledBudget.
func compiledBudget(flag, cgroupRoot string) (int64, error) {
	if flag == "" {
		if limit := memoryLimit(cgroupRoot); limit > 0 {
			return int64(float64(limit) * compiledBudgetShare), nil
		}
		return unlimitedCompiledBudget, nil
	}
	return parseBudget(flag)
}

// templateBudget resolves --template-budget: its quantity when set ("0"
// turns templates off), else templateBudgetShare of the memory the server
// is given, at most runtime.DefaultTemplateBudgetBytes.
func templateBudget(flag, cgroupRoot string) (int64, error) {
	if flag == "" {
		if limit := memoryLimit(cgroupRoot); limit > 0 {
			return min(int64(float64(limit)*templateBudgetShare), runtime.DefaultTemplateBudgetBytes), nil
		}
		return runtime.DefaultTemplateBudgetBytes, nil
	}
	return parseBudget(flag)
}

// parseBudget parses a budget flag's quantity.
func parseBudget(flag string) (int64, error) {
	q, err := resource.ParseQuantity(flag)
	if err != nil {
		return 0, err
	}
	return q.Value(), nil
}
