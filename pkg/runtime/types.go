package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ABIVersion is the guest ABI this host speaks (docs/abi.md).
const ABIVersion = 1

// Request is one reconcile: the key to reconcile and why.
type Request struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Reason is event, resync, requeue or retry.
	Reason string `json:"reason"`
}

// Result is what a guest's reconcile asked for.
type Result struct {
	// RequeueAfter, when positive, asks to reconcile the key again after it.
	RequeueAfter time.Duration
}

// APIRequest is a Kubernetes REST call a guest makes through api_request.
type APIRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// APIResponse is the answer to an APIRequest.
type APIResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// APIHandler serves a guest's API requests. The runtime knows nothing of
// the cluster: the caller decides where requests go and as whom.
type APIHandler interface {
	ServeAPI(ctx context.Context, req *APIRequest) *APIResponse
}

// Errors a reconcile can fail with besides the guest's own.
var (
	// ErrTrap: the guest trapped (a WebAssembly runtime error or a Go panic
	// that was not recovered). The instance is discarded.
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
