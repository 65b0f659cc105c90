package server

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Budget of compiled guest code when --compiled-module-budget is not set:
// a share of the memory the server is given, or a fixed amount when it is
// given no limit.
const (
	// compiledBudgetShare of the memory limit goes to compiled code; the
	// rest is the server itself, resident guests and the informers' caches.
	compiledBudgetShare = 0.5
	// unlimitedCompiledBudget is the budget of a server with no memory limit.
	unlimitedCompiledBudget = 256 << 20
	// noMemoryLimit is at or above what cgroup v1 reports for "no limit".
	noMemoryLimit = 1 << 62
)

// defaultCompiledBudget returns the budget for a server whose cgroup
// filesystem is at root ("/sys/fs/cgroup"): compiledBudgetShare of its
// memory limit (cgroup v2 memory.max, or v1 memory.limit_in_bytes), else
// unlimitedCompiledBudget. It also says which limit it followed, zero for
// none.
func defaultCompiledBudget(root string) (budget, limit int64) {
	for _, f := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= noMemoryLimit { // "max", or v1's no limit
			continue
		}
		return int64(float64(v) * compiledBudgetShare), v
	}
	return unlimitedCompiledBudget, 0
}

// compiledBudget resolves --compiled-module-budget: its quantity when set,
// else the default for the memory the server is given.
func compiledBudget(flag, cgroupRoot string) (int64, error) {
	if flag == "" {
		b, _ := defaultCompiledBudget(cgroupRoot)
		return b, nil
	}
	q, err := resource.ParseQuantity(flag)
	if err != nil {
		return 0, err
	}
	return q.Value(), nil
}
