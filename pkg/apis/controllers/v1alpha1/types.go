package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WasmController runs a Kubernetes controller compiled to WebAssembly inside
// wasm-apiserver. The host watches the resources named in spec.watches once
// for all controllers, wakes the guest when a wake rule matches, and suspends
// it between wakes.
type WasmController struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the controller runs and when it wakes.
	Spec WasmControllerSpec `json:"spec"`

	// Status is what the host observed running the controller.
	// +optional
	Status WasmControllerStatus `json:"status,omitempty"`
}

// WasmControllerSpec describes a WebAssembly controller.
type WasmControllerSpec struct {
	// Module names the WebAssembly module to run. Exactly one source must be set.
	Module ModuleSource `json:"module"`

	// ServiceAccountName is the ServiceAccount, in the WasmController's
	// namespace, whose permissions the guest's reads are checked against and
	// whose identity its writes are made as. Defaults to "default".
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Watches are the resources the controller watches and the wake rules
	// that decide which of their events wake it. At least one is required.
	// +listType=atomic
	Watches []Watch `json:"watches"`

	// ResyncPeriod, when set, wakes the controller at this interval (plus up
	// to 10% jitter) even without events: every key that the watches' cached
	// objects map to through their selectors and enqueue rules, without
	// asking wakeWhen. Must be positive.
	// +optional
	ResyncPeriod *metav1.Duration `json:"resyncPeriod,omitempty"`

	// Suspend decides what happens to the guest between wakes.
	// +optional
	Suspend SuspendSpec `json:"suspend,omitempty"`

	// Limits bound the resources one guest may use.
	// +optional
	Limits Limits `json:"limits,omitempty"`

	// Env is the guest's environment: only these variables are visible to it.
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []EnvVar `json:"env,omitempty"`

	// Paused stops waking the controller; events are not queued while paused
	// and the next reconcile after unpausing starts from a resync.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// ModuleSource names where a WebAssembly module comes from, and which of
// its reconcilers to run. Exactly one of image, url, configMapRef and
// inline must be set.
type ModuleSource struct {
	// Image is an OCI artifact reference holding the module, such as
	// "registry.example.com/controllers/replicator:v1" or a reference by digest.
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullSecrets name Secrets in the WasmController's namespace with
	// credentials for the registry of image.
	// +optional
	// +listType=atomic
	ImagePullSecrets []LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// ImagePullPolicy decides whether a tag is resolved again: IfNotPresent
	// (default) pins the digest first resolved; Always resolves the tag again
	// each time the controller is loaded.
	// +optional
	ImagePullPolicy PullPolicy `json:"imagePullPolicy,omitempty"`

	// URL is an HTTPS address of the module; sha256 is required with it.
	// +optional
	URL string `json:"url,omitempty"`

	// SHA256 is the expected hex SHA-256 digest of the module bytes. Required
	// with url; with any other source the loaded module must match it.
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// ConfigMapRef names a key of a ConfigMap in the WasmController's
	// namespace whose binaryData holds the module, optionally gzip-compressed.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`

	// Inline is the module itself, for small modules and tests.
	// +optional
	Inline []byte `json:"inline,omitempty"`

	// Reconciler selects one of the reconcilers a bundle module registers
	// by name (a DNS-1123 label). Empty runs the module's default
	// reconciler. Controllers running one module share its compiled code
	// whichever reconciler each selects. A name the module does not
	// register fails the load with the ModuleLoaded condition's reason
	// ReconcilerNotFound.
	// +optional
	Reconciler string `json:"reconciler,omitempty"`
}

// PullPolicy says when an image tag is resolved to a digest.
// +enum
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
	Name string `json:"name"`
}

// ConfigMapKeyReference names one key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// Name of the ConfigMap.
	Name string `json:"name"`
	// Key in the ConfigMap's binaryData (or data) that holds the module.
	Key string `json:"key"`
}

// Watch is one resource the controller watches, with the rules that decide
// which of its events wake the controller and for which keys.
type Watch struct {
	// APIVersion of the watched resource, such as "v1" or "apps/v1".
	APIVersion string `json:"apiVersion"`

	// Kind of the watched resource, such as "ConfigMap".
	Kind string `json:"kind"`

	// Namespace restricts the watch to one namespace; empty watches all
	// namespaces (or a cluster-scoped resource).
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// LabelSelector restricts the watch to objects with matching labels.
	// The guest reads only the objects some watch of their resource and
	// namespace selects; others are not found, as with an informer
	// built with these selectors.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`

	// FieldSelector restricts the watch to objects with matching fields,
	// such as "metadata.name=config". It narrows the guest's reads as
	// LabelSelector does.
	// +optional
	FieldSelector string `json:"fieldSelector,omitempty"`

	// WakeWhen is a CEL expression returning bool over `object` (on DELETED,
	// the last state known), `oldObject` (the state before a MODIFIED event;
	// null on ADDED and DELETED) and `eventType` ("ADDED", "MODIFIED" or
	// "DELETED"). An event wakes the controller only when it returns true.
	// An evaluation that fails, such as reading a field of a null oldObject,
	// wakes nothing and shows in the WakeRulesValid condition. Empty wakes on
	// every event.
	// +optional
	WakeWhen string `json:"wakeWhen,omitempty"`

	// Enqueue is a CEL expression over the same variables returning the
	// reconcile key, or list of keys, as "namespace/name" strings (for
	// example the owner of the object). Empty enqueues the object's own key.
	// +optional
	Enqueue string `json:"enqueue,omitempty"`

	// EnqueueOwner enqueues, instead of the object, its owners of one kind,
	// as controller-runtime's EnqueueRequestForOwner does: the owners named
	// in the ownerReferences of the object (and, on MODIFIED, of its old
	// state). Not with enqueue.
	// +optional
	EnqueueOwner *OwnerKind `json:"enqueueOwner,omitempty"`
}

// OwnerKind names the kind of owner whose objects a watch enqueues.
type OwnerKind struct {
	// APIVersion of the owner, such as "apps/v1". Only its group is
	// compared: an owner reference names one version, the owner is the
	// same object in every version.
	APIVersion string `json:"apiVersion"`

	// Kind of the owner, such as "Deployment".
	Kind string `json:"kind"`

	// AllOwners enqueues every owner of the kind; by default only the
	// controller owner (the reference with controller: true), as
	// client-go's GetControllerOf finds it.
	// +optional
	AllOwners bool `json:"allOwners,omitempty"`
}

// SuspendPolicy says when an idle guest is suspended.
// +enum
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

// SuspendSpec decides what happens to a guest between wakes.
type SuspendSpec struct {
	// Policy is one of Never, Immediate, Idle (default) and Predictive.
	// +optional
	Policy SuspendPolicy `json:"policy,omitempty"`

	// IdleAfter is how long a guest with the Idle policy stays resident
	// without work. Defaults to 30s.
	// +optional
	IdleAfter *metav1.Duration `json:"idleAfter,omitempty"`

	// Snapshot writes the guest's memory to disk when it is suspended and
	// restores it on the next wake instead of starting the guest afresh.
	// +optional
	Snapshot bool `json:"snapshot,omitempty"`
}

// Limits bound the resources of one guest. The server's administrator sets
// ceilings under the bounds given here: a value over one is refused, and a
// default over one is lowered to it.
type Limits struct {
	// Memory is the most linear memory one guest instance may grow to.
	// Between 1Mi and 4Gi; defaults to 64Mi.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`

	// ReconcileTimeout is how long one reconcile may run before its instance
	// is closed and the reconcile fails. Defaults to 30s.
	// +optional
	ReconcileTimeout *metav1.Duration `json:"reconcileTimeout,omitempty"`

	// MaxConcurrentReconciles is how many reconciles of this controller may
	// run at once, each in its own instance. Between 1 and 64; defaults to 1.
	// +optional
	MaxConcurrentReconciles int32 `json:"maxConcurrentReconciles,omitempty"`
}

// EnvVar is one environment variable visible to the guest.
type EnvVar struct {
	// Name of the variable.
	Name string `json:"name"`
	// Value of the variable.
	// +optional
	Value string `json:"value,omitempty"`
}

// Phase is the coarse state of a WasmController.
// +enum
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
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ModuleLoaded, WatchesReady, WakeRulesValid, Snapshotted once a snapshot was written, and
	// CompiledModuleOverBudget while the module's compiled code alone is over the server's budget.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ModuleDigest is the "sha256:<hex>" digest of the module that was loaded.
	// +optional
	ModuleDigest string `json:"moduleDigest,omitempty"`

	// ResolvedImage is spec.module.image pinned by digest
	// ("registry/repo:tag@sha256:<hex>"): the manifest the module was pulled
	// from. With imagePullPolicy IfNotPresent it is reused while
	// spec.module.image stays the same, so a moved tag changes nothing.
	// +optional
	ResolvedImage string `json:"resolvedImage,omitempty"`

	// Wakes counts the reconciles run since the controller was loaded: it
	// starts from 0 again when the server restarts or a new generation of
	// the spec is loaded.
	// +optional
	Wakes int64 `json:"wakes,omitempty"`

	// LastWakeTime is when the controller last woke.
	// +optional
	LastWakeTime *metav1.Time `json:"lastWakeTime,omitempty"`

	// LastWakeReason says why it last woke: event, resync, requeue or retry. It never names the key, which an
	// enqueue rule may build from what the controller reads.
	// +optional
	LastWakeReason string `json:"lastWakeReason,omitempty"`

	// NextWakeTime is when the next timer (resync or requeue) fires.
	// +optional
	NextWakeTime *metav1.Time `json:"nextWakeTime,omitempty"`

	// LastError is the last reconcile or load error, empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`

	// MemoryBytes is the linear memory held by resident instances.
	// +optional
	MemoryBytes int64 `json:"memoryBytes,omitempty"`

	// SnapshotBytes is the size on disk of the controller's snapshots.
	// +optional
	SnapshotBytes int64 `json:"snapshotBytes,omitempty"`

	// Owner is the id of the wasm-apiserver replica that runs the
	// controller (its Pod name), the only one that writes its status.
	// Controllers are spread over the replicas by rendezvous hashing of
	// namespace/name over the live ones.
	// +optional
	Owner string `json:"owner,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WasmControllerList is a list of WasmControllers.
type WasmControllerList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the WasmControllers.
	Items []WasmController `json:"items"`
}
