// Package host turns WasmControllers into running guests: it loads each
// controller's module, subscribes its watches to the shared informers,
// evaluates its wake rules on events, runs its reconciles in the runtime,
// and reports what happened in the WasmController's status and Events.
package host
