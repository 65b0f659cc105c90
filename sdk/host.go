package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// ErrNotInGuest is returned by HostAPI outside a wasip1 guest, where there
// is no host to call.
var ErrNotInGuest = errors.New("host calls are only available in a wasip1 guest")

// APIRequest is the request envelope of the api_request host call: a
// Kubernetes REST call whose body is JSON.
type APIRequest = abi.APIRequest

// APIResponse is the response envelope of the api_request host call.
type APIResponse = abi.APIResponse

// API sends Kubernetes API requests. HostAPI sends them through the host;
// tests pass a fake to NewClientFor.
type API interface {
	// Do sends one request and returns its response. An error means the
	// request was not served at all; API errors are responses.
	Do(ctx context.Context, req *APIRequest) (*APIResponse, error)
}

// HostAPI sends requests through the api_request and api_response_read host
// calls. Outside a wasip1 guest it fails every request with ErrNotInGuest.
var HostAPI API = hostAPI{}

type hostAPI struct{}

// Do implements API.
//
// # Errors
//
// The context's error when it is done, an error wrapping an Errno when the
// host refused the envelope, or ErrNotInGuest outside a wasip1 guest.
func (hostAPI) Do(ctx context.Context, req *APIRequest) (*APIResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	envelope, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding api request envelope: %w", err)
	}
	raw, err := hostRequest(envelope)
	if err != nil {
		return nil, err
	}
	resp := &APIResponse{}
	if err := json.Unmarshal(raw, resp); err != nil {
		return nil, fmt.Errorf("decoding api response envelope: %w", err)
	}
	return resp, nil
}

// Errno is an error number returned by a host call.
type Errno = abi.Errno

// Errno values of the guest ABI.
const (
	// EFAULT: a pointer or length was outside the guest's memory.
	EFAULT = abi.EFAULT
	// EINVAL: malformed JSON or envelope, or no reconcile in progress.
	EINVAL = abi.EINVAL
	// E2BIG: over a size limit (a request envelope over 4 MiB, a result over 64 KiB).
	E2BIG = abi.E2BIG
)
