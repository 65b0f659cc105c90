package host

import (
	"errors"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// ConditionCompiledModuleOverBudget is true (reason
// ReasonCompiledModuleOverBudget) while the controller's module's compiled
// code alone is larger than the server's compiled-module budget, even with
// its native code dropped while idle (runtime.Module.CheckCompiledBudget):
// the controller runs, but its module is compiled again from the disk
// cache at every wake after its instances close. It is absent otherwise.
const ConditionCompiledModuleOverBudget = "CompiledModuleOverBudget"

// ReasonCompiledModuleOverBudget is the reason of the condition and of the
// Warning Event that say a module is over the compiled-module budget.
const ReasonCompiledModuleOverBudget = "CompiledModuleOverBudget"

// reportCompiledBudget says in wc's status, and with a Warning Event,
// whether its module's compiled code is larger than the server's budget;
// a module within it clears what an earlier load said.
func (s *hostServices) reportCompiledBudget(status *statusWriter, wc *v1alpha1.WasmController, module *wasmruntime.Module) {
	var over *wasmruntime.CompiledBudgetError
	if !errors.As(module.CheckCompiledBudget(), &over) {
		status.removeCondition(ConditionCompiledModuleOverBudget)
		return
	}
	msg := over.Error()
	status.setCondition(wc.Generation, ConditionCompiledModuleOverBudget, true, ReasonCompiledModuleOverBudget, msg)
	s.event(wc, "Warning", ReasonCompiledModuleOverBudget, msg)
}
