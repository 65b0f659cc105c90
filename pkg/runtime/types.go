package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// ABIVersion is the guest ABI this host speaks (docs/abi.md).
const ABIVersion = abi.Version

// Request is one reconcile: the key to reconcile and why (event, resync,
// requeue or retry).
type Request = abi.Input

// Result is what a guest's reconcile asked for.
type Result struct {
	// RequeueAfter, when positive, asks to reconcile the key again after it.
	RequeueAfter time.Duration
}

// APIRequest is a Kubernetes REST call a guest makes through api_request.
type APIRequest = abi.APIRequest

// APIResponse is the answer to an APIRequest.
type APIResponse = abi.APIResponse

// APIHandler serves a guest's API requests. The runtime knows nothing of
// the cluster: the caller decides where requests go and as whom.
type APIHandler interface {
	ServeAPI(ctx context.Context, req *APIRequest) *APIResponse
}

// Errors a reconcile can fail with besides the guest's own.
var (
	// ErrTrap: the guest trapped (a WebAssembly runtime error or a Go panic
	// that was not recovered). The instance is discarded. The error is a
	// *TrapError, whose Trace has the guest's stack.
	ErrTrap = errors.New("guest trapped")
	// ErrTimeout: the reconcile ran past its deadline. The instance is discarded.
	ErrTimeout = errors.New("reconcile timed out")
	// ErrMemoryLimit: the guest needed more memory than its limit. The
	// instance is discarded.
	ErrMemoryLimit = errors.New("guest exceeded its memory limit")
	// ErrExited: the guest exited (proc_exit) during the call. The instance
	// is discarded.
	ErrExited = errors.New("guest exited")
	// ErrClosed: the instance was closed before or during the call.
	ErrClosed = errors.New("instance is closed")
)

// GuestError is a reconcile the guest itself reported as failed.
type GuestError struct {
	Message string
}

func (e *GuestError) Error() string {
	if e.Message == "" {
		return "reconcile failed"
	}
	return e.Message
}
