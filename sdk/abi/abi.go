// Package abi holds the wire types and constants of the guest ABI that
// docs/abi.md specifies, shared by the host (the server's pkg/runtime and
// pkg/proxy) and the Go guest SDK (sdk) so the contract is written once. It
// lives in the sdk module, which the server requires, so guests get it
// without any of the server's dependencies. It imports only the standard
// library's encoding/json and strconv, so guests stay small.
package abi

import (
	"encoding/json"
	"strconv"
)

// Version is the ABI version; guests export MarkerPrefix followed by it.
const Version = 1

// Names of the ABI.
const (
	// MarkerPrefix starts the name of the export that says which ABI version
	// a module speaks: wasm_apiserver_abi_v1.
	MarkerPrefix = "wasm_apiserver_abi_v"
	// HostModule is the import module of the host functions.
	HostModule = "wasm_apiserver"
	// ReconcileExport is the guest's entry point.
	ReconcileExport = "reconcile"
	// SelectReconcilerExport is the optional export of a bundle, a module
	// holding several reconcilers by name: the host calls it once per
	// instance, before the first reconcile, with a Selection.
	SelectReconcilerExport = "select_reconciler"
	// CompactExport is the optional export with which the host asks a
	// resident guest, between reconciles, to zero the memory it holds
	// free, so that the host can give those pages back to the OS.
	CompactExport = "compact"
	// SharedInitExport is the optional marker export that says the
	// module's initialization does not need the guest's name: the host
	// then passes SharedInitArg as the guest's argument instead of the
	// name, and may start the instances of every controller of the
	// module in a namespace, with the same environment and reconciler,
	// from one copy of the memory their initialization leaves. The host
	// never calls it.
	SharedInitExport = "wasm_apiserver_shared_init"
	// SharedInitArg is the one argument (args_get) of a guest whose
	// module exports SharedInitExport.
	SharedInitArg = "wasm-controller"
)

// Host calls: the functions HostModule exports (docs/abi.md, "What the host
// provides").
const (
	// CallInputRead copies the current reconcile's Input to the guest.
	CallInputRead = "input_read"
	// CallResultWrite sets the current reconcile's Result.
	CallResultWrite = "result_write"
	// CallAPIRequest makes a Kubernetes API request (APIRequest).
	CallAPIRequest = "api_request"
	// CallAPIResponseRead copies the last APIResponse to the guest.
	CallAPIResponseRead = "api_response_read"
	// CallLog writes a message to the server's log.
	CallLog = "log"
)

// HostCalls lists the names of every host call, in the order docs/abi.md
// documents them.
func HostCalls() []string {
	return []string{CallInputRead, CallResultWrite, CallAPIRequest, CallAPIResponseRead, CallLog}
}

// Size limits.
const (
	// MaxRequestBytes bounds the request envelope of api_request.
	MaxRequestBytes = 4 << 20
	// MaxResponseBytes bounds the response envelope of api_request, and so
	// every response body the host reads for a guest.
	MaxResponseBytes = 64 << 20
	// MaxResultBytes bounds the JSON passed to result_write.
	MaxResultBytes = 64 << 10
	// MaxLogBytes bounds one message of the log host call.
	MaxLogBytes = 16 << 10
)

// Reasons a reconcile runs, the values of Input.Reason.
const (
	ReasonEvent   = "event"
	ReasonResync  = "resync"
	ReasonRequeue = "requeue"
	ReasonRetry   = "retry"
)

// Input is the JSON a guest reads with input_read: the key to reconcile and why.
type Input struct {
	// Namespace of the key; empty for a cluster-scoped key.
	Namespace string `json:"namespace"`
	// Name of the key.
	Name string `json:"name"`
	// Reason is ReasonEvent, ReasonResync, ReasonRequeue or ReasonRetry.
	Reason string `json:"reason"`
	// Controller is the "namespace/name" of the WasmController the
	// guest runs for. Hosts that predate it leave it out.
	Controller string `json:"controller,omitempty"`
}

// Selection is the JSON a guest reads with input_read during
// select_reconciler: the reconciler the instance runs.
type Selection struct {
	// Reconciler is the name of the reconciler; empty selects the module's
	// default (unnamed) one.
	Reconciler string `json:"reconciler"`
}

// MaxReconcilerNameBytes bounds the name of a reconciler, a DNS-1123 label.
const MaxReconcilerNameBytes = 63

// ValidReconcilerName says whether name can name a reconciler: a DNS-1123
// label, 1 to 63 lowercase letters, digits and '-', starting and ending
// with a letter or digit.
func ValidReconcilerName(name string) bool {
	if name == "" || len(name) > MaxReconcilerNameBytes {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1:
		default:
			return false
		}
	}
	return true
}

// Result is the JSON a guest passes to result_write.
type Result struct {
	// RequeueAfterMillis, when positive, wakes the key again after it.
	RequeueAfterMillis int64 `json:"requeueAfterMillis,omitempty"`
	// Error says why the reconcile failed.
	Error string `json:"error,omitempty"`
}

// APIRequest is the request envelope of api_request: a Kubernetes REST call
// whose body is JSON.
type APIRequest struct {
	// Method is GET, POST, PUT, PATCH or DELETE.
	Method string `json:"method"`
	// Path is the REST path, /api/... or /apis/..., not percent-encoded.
	Path string `json:"path"`
	// Query is the URL-encoded query string without the leading "?".
	Query string `json:"query,omitempty"`
	// Headers are request headers; Content-Type selects the patch type.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body, a JSON value.
	Body json.RawMessage `json:"body,omitempty"`
}

// APIResponse is the response envelope of api_request.
type APIResponse struct {
	// Status is the HTTP status code. API errors come with a Kubernetes
	// Status object in Body.
	Status int `json:"status"`
	// Headers are response headers the host chose to pass on.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the response body, a JSON value; empty when there is none.
	Body json.RawMessage `json:"body,omitempty"`
}

// StatusResponse is an APIResponse the host builds itself rather than the
// API server: a Kubernetes Status object of the given HTTP code, reason
// (such as "Forbidden") and message.
func StatusResponse(code int, reason, message string) *APIResponse {
	body, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": message, "reason": reason, "code": code,
	})
	return &APIResponse{Status: code, Body: body}
}

// ResponseTooLarge is the answer to a request whose response would be over
// MaxResponseBytes: a 413 Status that tells the guest to page its list.
func ResponseTooLarge() *APIResponse {
	const requestEntityTooLarge = 413
	return StatusResponse(requestEntityTooLarge, "RequestEntityTooLarge", "the response is larger than the ABI's limit of "+
		strconv.Itoa(MaxResponseBytes>>20)+" MiB: list with a limit and continue")
}

// Errno is an error number returned by a host call.
type Errno uint32

// Errno values.
const (
	// OK: the call succeeded.
	OK Errno = 0
	// EFAULT: a pointer or length was outside the guest's memory.
	EFAULT Errno = 1
	// EINVAL: malformed JSON or envelope, or no reconcile in progress.
	EINVAL Errno = 2
	// E2BIG: over a size limit.
	E2BIG Errno = 3
)

// Count-returning calls (input_read, api_response_read) return either a
// byte count or, on failure, an errno negated as a u32: 0xFFFFFFFF for
// EFAULT, 0xFFFFFFFE for EINVAL. Counts are bounded by MaxResponseBytes, so
// every value from MinCountErrno up is an errno and never a count.
const MinCountErrno = 0xFFFFF000

// CountErrno encodes e as the return value of a count-returning call.
func CountErrno(e Errno) uint32 { return -uint32(e) }

// SplitCount decodes the return value of a count-returning call into the
// count, or the errno when it is one.
func SplitCount(ret uint32) (uint32, Errno) {
	if ret >= MinCountErrno {
		return 0, Errno(-ret)
	}
	return ret, OK
}

func (e Errno) Error() string {
	switch e {
	case OK:
		return "OK"
	case EFAULT:
		return "EFAULT: pointer or length out of bounds"
	case EINVAL:
		return "EINVAL: malformed envelope or no reconcile in progress"
	case E2BIG:
		return "E2BIG: over a size limit"
	default:
		return "errno " + strconv.FormatUint(uint64(e), 10)
	}
}

// Level is the level of a message passed to the log host call.
type Level uint32

// Log levels.
const (
	// LevelInfo messages are always shown.
	LevelInfo Level = 0
	// LevelDebug messages are shown when the server runs at verbosity 4 or more.
	LevelDebug Level = 1
	// LevelError messages report failures.
	LevelError Level = 2
)

func (l Level) String() string {
	switch l {
	case LevelInfo:
		return "info"
	case LevelDebug:
		return "debug"
	case LevelError:
		return "error"
	default:
		return "level(" + strconv.FormatUint(uint64(l), 10) + ")"
	}
}
