package runtime

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/abi"
)

// call is the state of one reconcile, reached by host functions through
// the context of the call.
type call struct {
	input    []byte
	result   []byte
	response []byte
}

type callKey struct{}
type instanceKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func withInstance(ctx context.Context, i *Instance) context.Context {
	return context.WithValue(ctx, instanceKey{}, i)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

func instanceFrom(ctx context.Context) *Instance {
	i, _ := ctx.Value(instanceKey{}).(*Instance)
	return i
}

func instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	i32 := api.ValueTypeI32
	_, err := r.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().WithGoModuleFunction(copyPending(func(c *call) []byte { return c.input }), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("input_read").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(resultWrite), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("result_write").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(apiRequest), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).Export("api_request").
		NewFunctionBuilder().WithGoModuleFunction(copyPending(func(c *call) []byte { return c.response }), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("api_response_read").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(logMessage), []api.ValueType{i32, i32, i32}, []api.ValueType{}).Export("log").
		Instantiate(ctx)
	return err
}

// copyOut copies src to the guest at ptr, at most n bytes, and returns how
// many were copied, or false when the range is outside the guest's memory.
func copyOut(mod api.Module, ptr, n uint32, src []byte) (uint32, bool) {
	if uint32(len(src)) < n {
		n = uint32(len(src))
	}
	if n == 0 {
		_, ok := mod.Memory().Read(ptr, 0)
		return 0, ok
	}
	if !mod.Memory().Write(ptr, src[:n]) {
		return 0, false
	}
	return n, true
}

// read returns a copy of n bytes at ptr, or false when out of bounds.
func read(mod api.Module, ptr, n uint32) ([]byte, bool) {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// copyPending returns a host function that copies up to len bytes of the
// current call's buffer chosen by pick to ptr and returns how many it copied:
// input_read and api_response_read.
func copyPending(pick func(*call) []byte) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		var n uint32
		if c := callFrom(ctx); c != nil {
			n, _ = copyOut(mod, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), pick(c))
		}
		stack[0] = uint64(n)
	}
}

func resultWrite(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	switch {
	case c == nil:
		stack[0] = uint64(abi.EINVAL)
	case n > abi.MaxResultBytes:
		stack[0] = uint64(abi.E2BIG)
	default:
		b, ok := read(mod, ptr, n)
		if !ok {
			stack[0] = uint64(abi.EFAULT)
			return
		}
		c.result = b
		stack[0] = uint64(abi.OK)
	}
}

func apiRequest(ctx context.Context, mod api.Module, stack []uint64) {
	c, inst := callFrom(ctx), instanceFrom(ctx)
	ptr, n, respLenPtr := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if c == nil || inst == nil {
		stack[0] = uint64(abi.EINVAL)
		return
	}
	if n > abi.MaxRequestBytes {
		stack[0] = uint64(abi.E2BIG)
		return
	}
	raw, ok := mod.Memory().Read(ptr, n)
	if !ok {
		stack[0] = uint64(abi.EFAULT)
		return
	}
	if _, ok := mod.Memory().Read(respLenPtr, 4); !ok {
		stack[0] = uint64(abi.EFAULT)
		return
	}
	var req APIRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.Method == "" || !strings.HasPrefix(req.Path, "/") {
		stack[0] = uint64(abi.EINVAL)
		return
	}
	var resp *APIResponse
	if inst.cfg.API == nil {
		resp = StatusResponse(http.StatusServiceUnavailable, "ServiceUnavailable", "this guest has no API access")
	} else {
		resp = inst.cfg.API.ServeAPI(ctx, &req)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		out, _ = json.Marshal(StatusResponse(http.StatusInternalServerError, "InternalError", "encoding response: "+err.Error()))
	}
	if len(out) > abi.MaxResponseBytes {
		out, _ = json.Marshal(StatusResponse(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"the response is larger than the ABI's 64 MiB limit: list with a limit and continue"))
	}
	c.response = out
	var lenBuf [4]byte
	binary.LittleEndian.PutUint32(lenBuf[:], uint32(len(out)))
	mod.Memory().Write(respLenPtr, lenBuf[:])
	stack[0] = uint64(abi.OK)
}

func logMessage(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	truncated := n > abi.MaxLogBytes
	if truncated {
		n = abi.MaxLogBytes
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return
	}
	logger := klog.Background()
	if inst := instanceFrom(ctx); inst != nil {
		logger = inst.cfg.Logger
	}
	msg := string(b)
	switch abi.Level(level) {
	case abi.LevelError:
		logger.Error(nil, msg, "truncated", truncated)
	case abi.LevelDebug:
		logger.V(4).Info(msg)
	default:
		logger.Info(msg)
	}
}

// StatusResponse is a Kubernetes Status answer built by the host.
func StatusResponse(code int, reason, message string) *APIResponse {
	body, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": message, "reason": reason, "code": code,
	})
	return &APIResponse{Status: code, Body: body}
}
