// Package wakerule compiles the CEL wake rules of a WasmController's watches:
// wakeWhen decides whether an event wakes the controller and enqueue maps an
// event to the reconcile keys it wakes for. Rules use Kubernetes' CEL
// environment and libraries, the ones administrators know from
// ValidatingAdmissionPolicy, over the variables object, oldObject and eventType.
package wakerule
