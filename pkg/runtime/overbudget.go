package runtime

import "fmt"

// CompiledBudgetError says that a module's compiled code alone is
// estimated larger than the runtime's Config.CompiledBudgetBytes. Such a
// module still runs: its code stays resident while an instance of it is
// (a module in use is never evicted), and it is the first to be evicted
// once none is, since it can never fit. So every wake after its
// instances closed compiles it again from the disk cache, which for a
// large module takes seconds.
type CompiledBudgetError struct {
	// Digest is the module's digest.
	Digest string
	// EstimatedBytes is the estimated resident size of its compiled code.
	EstimatedBytes int64
	// BudgetBytes is the runtime's budget.
	BudgetBytes int64
}

func (e *CompiledBudgetError) Error() string {
	return fmt.Sprintf("the module's compiled code (about %d MiB) is larger than the compiled-module budget of %d MiB: "+
		"it is evicted whenever no instance of it is resident, and compiled again from the disk cache at the next wake; "+
		"raise --compiled-module-budget above it, or keep an instance resident (spec.suspend.policy Never)",
		mebibytes(e.EstimatedBytes), mebibytes(e.BudgetBytes))
}

// mebibytes rounds n bytes up to MiB.
func mebibytes(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// CheckCompiledBudget says whether the module's compiled code fits the
// runtime's compiled-code budget on its own.
//
// # Errors
//
// A *CompiledBudgetError when the budget is set and the module's estimated
// compiled size is over it; nil otherwise.
func (m *Module) CheckCompiledBudget() error {
	if !m.overBudget() {
		return nil
	}
	return &CompiledBudgetError{Digest: m.Digest, EstimatedBytes: m.cost, BudgetBytes: m.runtime.cfg.CompiledBudgetBytes}
}

// overBudget says whether the module's compiled code alone is over the
// budget. cost and the budget never change once loaded: no lock is needed.
func (m *Module) overBudget() bool {
	budget := m.runtime.cfg.CompiledBudgetBytes
	return budget > 0 && m.cost > budget
}
