package runtime

import "fmt"

// CompiledBudgetError says that a module's compiled code is estimated
// larger than the runtime's Config.CompiledBudgetBytes even while the
// module is idle, its native code dropped where it can be (codefile.go).
// Such a module still runs: its code stays resident while an instance of
// it is (a module in use is never evicted), and it is the first to be
// evicted once none is, since it can never fit. So every wake after its
// instances closed compiles it again from the disk cache, which for a
// large module takes seconds.
type CompiledBudgetError struct {
	// Digest is the module's digest.
	Digest string
	// EstimatedBytes is the estimated resident size of its compiled code.
	EstimatedBytes int64
	// IdleBytes is what of it stays while the module is idle: all of it,
	// or what wazero keeps besides the native code where that code can be
	// mapped from a file and dropped.
	IdleBytes int64
	// BudgetBytes is the runtime's budget.
	BudgetBytes int64
}

func (e *CompiledBudgetError) Error() string {
	size := fmt.Sprintf("the module's compiled code (about %d MiB)", mebibytes(e.EstimatedBytes))
	if e.IdleBytes < e.EstimatedBytes {
		size = fmt.Sprintf("what the module keeps in memory while idle (about %d MiB of its %d MiB of compiled code)",
			mebibytes(e.IdleBytes), mebibytes(e.EstimatedBytes))
	}
	return fmt.Sprintf("%s is larger than the compiled-module budget of %d MiB: "+
		"it is evicted whenever no instance of it is resident, and compiled again from the disk cache at the next wake; "+
		"raise --compiled-module-budget above it, or keep an instance resident (spec.suspend.policy Never)",
		size, mebibytes(e.BudgetBytes))
}

// mebibytes rounds n bytes up to MiB.
func mebibytes(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// CheckCompiledBudget says whether the module's compiled code fits the
// runtime's compiled-code budget on its own, at least while the module is
// idle: a module whose native code the budget can drop (codefile.go) fits
// if what it keeps besides that code does.
//
// # Errors
//
// A *CompiledBudgetError when the budget is set and what the module keeps
// while idle is over it; nil otherwise.
func (m *Module) CheckCompiledBudget() error {
	if !m.overBudget() {
		return nil
	}
	return &CompiledBudgetError{Digest: m.Digest, EstimatedBytes: m.cost, IdleBytes: m.idleCost(),
		BudgetBytes: m.runtime.cfg.CompiledBudgetBytes}
}

// overBudget says whether what the module's compiled code keeps while the
// module is idle is over the budget: it can never fit. cost, droppable and
// the budget never change once loaded: no lock is needed.
func (m *Module) overBudget() bool {
	budget := m.runtime.cfg.CompiledBudgetBytes
	return budget > 0 && m.idleCost() > budget
}

// idleCost is the estimated cost of the module's compiled code once the
// budget dropped its native code, where it can.
func (m *Module) idleCost() int64 { return m.cost - m.droppable }
