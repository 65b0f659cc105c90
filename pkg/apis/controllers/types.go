package controllers

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WasmController runs a Kubernetes controller compiled to WebAssembly inside
// wasm-apiserver. The host watches the resources named in spec.watches once
// for all controllers, wakes the guest when a wake rule matches, and suspends
// it between wakes.
type WasmController struct {
	metav1.TypeMeta
	// Standard object metadata.
	metav1.ObjectMeta

	// Spec is what the controller runs and when it wakes.
	Spec WasmControllerSpec

	// Status is what the host observed running the controller.
	Status WasmControllerStatus
}

// WasmControllerSpec describes a WebAssembly controller.
type WasmControllerSpec struct {
	// Module names the WebAssembly module to run. Exactly one source must be set.
	Module ModuleSource

	// ServiceAccountName is the ServiceAccount, in the WasmController's
	// namespace, whose permissions the guest's reads are checked against and
	// whose identity its writes are made as. Defaults to "default".
	ServiceAccountName string

	// Watches are the resources the controller watches and the wake rules
	// that decide which of their events wake it. At least one is required.
	Watches []Watch

	// ResyncPeriod, when set, wakes the controller at this interval (plus up
	// to 10% jitter) even without events: every key that the watches' cached
	// objects map to through their selectors and enqueue rules, without
	// asking wakeWhen.
	ResyncPeriod *metav1.Duration

	// Suspend decides what happens to the guest between wakes.
	Suspend SuspendSpec

	// Limits bound the resources one guest may use.
	Limits Limits

	// Env is the guest's environment: only these variables are visible to it.
	Env []EnvVar

	// Paused stops waking the controller; events are not queued while paused
	// and the next reconcile after unpausing starts from a resync.
	Paused bool
}

// ModuleSource names where a WebAssembly module comes from, and which of
// its reconcilers to run. Exactly one of image, url, configMapRef and
// inline must be set.
type ModuleSource struct {
	// Image is an OCI artifact reference holding the module, such as
	// "registry.example.com/controllers/replicator:v1" or a reference by digest.
	Image string

	// ImagePullSecrets name Secrets in the WasmController's namespace with
	// credentials for the registry of image.
	ImagePullSecrets []LocalObjectReference

	// ImagePullPolicy decides whether a tag is resolved again: IfNotPresent
	// (default) pins the digest first resolved; Always resolves the tag again
	// each time the controller is loaded.
	ImagePullPolicy PullPolicy

	// URL is an HTTPS address of the module; sha256 is required with it.
	URL string

	// SHA256 is the expected hex SHA-256 digest of the module bytes. Required
	// with url; with any other source the loaded module must match it.
	SHA256 string

	// ConfigMapRef names a key of a ConfigMap in the WasmController's
	// namespace whose binaryData holds the module, optionally gzip-compressed.
	ConfigMapRef *ConfigMapKeyReference

	// Inline is the module itself, for small modules and tests.
	Inline []byte

	// Reconciler selects one of the reconcilers a bundle module registers
	// by name; empty runs the module's default reconciler.
	Reconciler string
}

// PullPolicy says when an image tag is resolved to a digest.
type PullPolicy string

const (
	// PullIfNotPresent resolves a tag once and keeps the pinned digest.
	PullIfNotPresent PullPolicy = "IfNotPresent"
	// PullAlways resolves the tag again each time the module is loaded.
	PullAlways PullPolicy = "Always"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the referent.
	Name string
}

// ConfigMapKeyReference names one key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// Name of the ConfigMap.
	Name string
	// Key in the ConfigMap's binaryData (or data) that holds the module.
	Key string
}

// Watch is one resource the controller watches, with the rules that decide
// which of its events wake the controller and for which keys.
type Watch struct {
	// APIVersion of the watched resource, such as "v1" or "apps/v1".
	APIVersion string

	// Kind of the watched resource, such as "ConfigMap".
	Kind string

	// Namespace restricts the watch to one namespace; empty watches all
	// namespaces (or a cluster-scoped resource).
	Namespace string

	// LabelSelector restricts the watch to objects with matching labels.
	// The guest reads only the objects some watch of their resource and
	// namespace selects; others are not found, as with an informer
	// built with these selectors.
	LabelSelector *metav1.LabelSelector

	// FieldSelector restricts the watch to objects with matching fields,
	// such as "metadata.name=config". It narrows the guest's reads as
	// LabelSelector does.
	FieldSelector string

	// WakeWhen is a CEL expression returning bool over `object` (on DELETED,
	// the last state known), `oldObject` (the state before a MODIFIED event;
	// null on ADDED and DELETED) and `eventType`. An event wakes the
	// controller only when it returns true; an evaluation that fails wakes
	// nothing. Empty wakes on every event.
	WakeWhen string

	// Enqueue is a CEL expression over the same variables returning the
	// reconcile key, or list of keys, as "namespace/name" strings (for
	// example the owner of the object). Empty enqueues the object's own key.
	Enqueue string

	// EnqueueOwner enqueues, instead of the object, its owners of one kind:
	// those its ownerReferences (and, on MODIFIED, its old state's) name.
	// Not with Enqueue.
	EnqueueOwner *OwnerKind
}

// OwnerKind names the kind of owner whose objects a watch enqueues.
type OwnerKind struct {
	// APIVersion of the owner; only its group is compared.
	APIVersion string
	// Kind of the owner.
	Kind string
	// AllOwners enqueues every owner of the kind, not only the controller.
	AllOwners bool
}

// SuspendPolicy says when an idle guest is suspended.
type SuspendPolicy string

const (
	// SuspendNever keeps the guest instance resident.
	SuspendNever SuspendPolicy = "Never"
	// SuspendImmediate suspends the guest once no key of it waits: keys
	// queued together, as by a resync, run one after another on one
	// resume, a bounded number at a time, before it is suspended.
	SuspendImmediate SuspendPolicy = "Immediate"
	// SuspendIdle suspends the guest after idleAfter without work.
	SuspendIdle SuspendPolicy = "Idle"
	// SuspendPredictive keeps the guest warm when its next wake is expected
	// soon and suspends it otherwise.
	SuspendPredictive SuspendPolicy = "Predictive"
)

// SuspendPolicies are every SuspendPolicy, in the order the API documents
// them: what validation accepts.
var SuspendPolicies = []SuspendPolicy{SuspendNever, SuspendImmediate, SuspendIdle, SuspendPredictive}

// SuspendSpec decides what happens to a guest between wakes.
type SuspendSpec struct {
	// Policy is one of Never, Immediate, Idle (default) and Predictive.
	Policy SuspendPolicy

	// IdleAfter is how long a guest with the Idle policy stays resident
	// without work. Defaults to 30s.
	IdleAfter *metav1.Duration

	// Snapshot writes the guest's memory to disk when it is suspended and
	// restores it on the next wake instead of starting the guest afresh.
	Snapshot bool
}

// Limits bound the resources of one guest. The server's administrator sets
// ceilings under the bounds given here: a value over one is refused, and a
// default over one is lowered to it.
type Limits struct {
	// Memory is the most linear memory one guest instance may grow to.
	// Between 1Mi and 4Gi; defaults to 64Mi.
	Memory *resource.Quantity

	// ReconcileTimeout is how long one reconcile may run before its instance
	// is closed and the reconcile fails. Defaults to 30s.
	ReconcileTimeout *metav1.Duration

	// MaxConcurrentReconciles is how many reconciles of this controller may
	// run at once, each in its own instance. Between 1 and 64; defaults to 1.
	MaxConcurrentReconciles int32
}

// EnvVar is one environment variable visible to the guest.
type EnvVar struct {
	// Name of the variable.
	Name string
	// Value of the variable.
	Value string
}

// Phase is the coarse state of a WasmController.
type Phase string

const (
	// PhasePending: accepted, not loaded yet.
	PhasePending Phase = "Pending"
	// PhaseLoading: the module is being fetched and compiled.
	PhaseLoading Phase = "Loading"
	// PhaseActive: a guest instance is resident.
	PhaseActive Phase = "Active"
	// PhaseSuspended: loaded, no instance resident; wakes on events and timers.
	PhaseSuspended Phase = "Suspended"
	// PhaseFailed: the module cannot be run; see conditions and lastError.
	PhaseFailed Phase = "Failed"
	// PhasePaused: spec.paused is set.
	PhasePaused Phase = "Paused"
)

// Condition types of a WasmController.
const (
	// ConditionReady is true when the controller is loaded and wakes on its events.
	ConditionReady = "Ready"
	// ConditionModuleLoaded is true when the module was fetched, verified and compiled.
	ConditionModuleLoaded = "ModuleLoaded"
	// ConditionWatchesReady is true when every watch's cache has synced.
	ConditionWatchesReady = "WatchesReady"
	// ConditionWakeRulesValid is true when every wake rule compiled and
	// evaluates without errors.
	ConditionWakeRulesValid = "WakeRulesValid"
)

// WasmControllerStatus is what the host observed.
type WasmControllerStatus struct {
	// Phase is the coarse state: Pending, Loading, Active, Suspended, Failed or Paused.
	Phase Phase

	// ObservedGeneration is the generation of the spec the status describes.
	ObservedGeneration int64

	// Conditions: Ready, ModuleLoaded, WatchesReady, WakeRulesValid, and Snapshotted once a snapshot was written.
	Conditions []metav1.Condition

	// ModuleDigest is the "sha256:<hex>" digest of the module that was loaded.
	ModuleDigest string

	// ResolvedImage is spec.module.image pinned by digest: the manifest the
	// module was pulled from.
	ResolvedImage string

	// Wakes counts the reconciles run since the controller was loaded.
	Wakes int64

	// LastWakeTime is when the controller last woke.
	LastWakeTime *metav1.Time

	// LastWakeReason says why it last woke: event, resync, requeue or retry. It never names the key, which an
	// enqueue rule may build from what the controller reads.
	LastWakeReason string

	// NextWakeTime is when the next timer (resync or requeue) fires.
	NextWakeTime *metav1.Time

	// LastError is the last reconcile or load error, empty after a success.
	LastError string

	// MemoryBytes is the linear memory held by resident instances.
	MemoryBytes int64

	// SnapshotBytes is the size on disk of the controller's snapshots.
	SnapshotBytes int64

	// Owner is the id of the wasm-apiserver replica that runs the
	// controller, the only one that writes its status.
	Owner string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WasmControllerList is a list of WasmControllers.
type WasmControllerList struct {
	metav1.TypeMeta
	// Standard list metadata.
	metav1.ListMeta

	// Items are the WasmControllers.
	Items []WasmController
}
