package sdk

import (
	"context"
	"sync"
)

// fakeAPI answers requests with respond and records them.
type fakeAPI struct {
	mu       sync.Mutex
	requests []*APIRequest
	respond  func(req *APIRequest) (*APIResponse, error)
}

func (f *fakeAPI) Do(_ context.Context, req *APIRequest) (*APIResponse, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if f.respond == nil {
		return &APIResponse{Status: 200, Body: []byte(`{}`)}, nil
	}
	return f.respond(req)
}

func (f *fakeAPI) last() *APIRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil
	}
	return f.requests[len(f.requests)-1]
}
