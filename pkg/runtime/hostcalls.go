package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// call is the state of one reconcile, reached by host functions through
// the context of the call.
type call struct {
	input []byte
	// selecting is set for the call of select_reconciler, during which the
	// guest may read its input and write a result but make no API request.
	selecting bool
	// result is what result_write last set; zero when it was not called.
	result abi.Result
	// response is the envelope of the last api_request that returned OK,
	// nil when the last one failed.
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
		NewFunctionBuilder().WithGoModuleFunction(copyPending(func(c *call) []byte { return c.input }), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export(abi.CallInputRead).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(resultWrite), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export(abi.CallResultWrite).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(apiRequest), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).Export(abi.CallAPIRequest).
		NewFunctionBuilder().WithGoModuleFunction(copyPending(func(c *call) []byte { return c.response }), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export(abi.CallAPIResponseRead).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(logMessage), []api.ValueType{i32, i32, i32}, []api.ValueType{}).Export(abi.CallLog).
		Instantiate(ctx)
	return err
}

// inBounds says whether the n bytes at ptr are all in the guest's memory.
func inBounds(mod api.Module, ptr, n uint32) bool {
	return uint64(ptr)+uint64(n) <= uint64(mod.Memory().Size())
}

// copyOut copies src to the guest at ptr, at most n bytes, and returns how
// many were copied, or false when the n bytes at ptr are not all in the
// guest's memory.
func copyOut(mod api.Module, ptr, n uint32, src []byte) (uint32, bool) {
	if !inBounds(mod, ptr, n) {
		return 0, false
	}
	n = min(n, uint32(len(src)))
	mod.Memory().Write(ptr, src[:n])
	return n, true
}

// Every host function first ends the call when its context is done
// (interruptCheck), so that time spent in host calls counts toward the
// reconcile's deadline and a guest looping on host calls stops with it.

// copyPending returns a host function that copies up to len bytes of the
// current call's buffer chosen by pick to ptr and returns how many it
// copied, or an errno as abi.CountErrno encodes it: input_read and
// api_response_read.
func copyPending(pick func(*call) []byte) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		interruptCheck(ctx, mod, nil)
		c := callFrom(ctx)
		if c == nil {
			stack[0] = uint64(abi.CountErrno(abi.EINVAL))
			return
		}
		n, ok := copyOut(mod, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), pick(c))
		if !ok {
			stack[0] = uint64(abi.CountErrno(abi.EFAULT))
			return
		}
		stack[0] = uint64(n)
	}
}

func resultWrite(ctx context.Context, mod api.Module, stack []uint64) {
	interruptCheck(ctx, mod, nil)
	c := callFrom(ctx)
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	switch {
	case c == nil:
		stack[0] = uint64(abi.EINVAL)
	case n > abi.MaxResultBytes:
		stack[0] = uint64(abi.E2BIG)
	default:
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			stack[0] = uint64(abi.EFAULT)
			return
		}
		res, err := parseResult(b)
		if err != nil {
			stack[0] = uint64(abi.EINVAL)
			return
		}
		c.result = res
		stack[0] = uint64(abi.OK)
	}
}

// parseResult parses and checks the JSON of result_write: an object whose
// known fields have their types and requeueAfterMillis is not negative.
func parseResult(b []byte) (abi.Result, error) {
	var res abi.Result
	if !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) {
		return res, errors.New("the result is not a JSON object")
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, err
	}
	if res.RequeueAfterMillis < 0 {
		return res, errors.New("requeueAfterMillis is negative")
	}
	return res, nil
}

func apiRequest(ctx context.Context, mod api.Module, stack []uint64) {
	interruptCheck(ctx, mod, nil)
	c, inst := callFrom(ctx), instanceFrom(ctx)
	ptr, n, respLenPtr := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if c == nil || inst == nil || c.selecting {
		stack[0] = uint64(abi.EINVAL)
		return
	}
	c.response = nil // a failed request leaves no response to read
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
		resp = abi.StatusResponse(http.StatusServiceUnavailable, "ServiceUnavailable", "this guest has no API access")
	} else {
		resp = inst.cfg.API.ServeAPI(ctx, &req)
	}
	interruptCheck(ctx, mod, nil) // the request may have used up the deadline
	out, err := json.Marshal(resp)
	if err != nil {
		out, _ = json.Marshal(abi.StatusResponse(http.StatusInternalServerError, "InternalError", "encoding response: "+err.Error()))
	}
	if len(out) > abi.MaxResponseBytes {
		out, _ = json.Marshal(abi.ResponseTooLarge())
	}
	c.response = out
	var lenBuf [4]byte
	binary.LittleEndian.PutUint32(lenBuf[:], uint32(len(out)))
	mod.Memory().Write(respLenPtr, lenBuf[:])
	stack[0] = uint64(abi.OK)
}

func logMessage(ctx context.Context, mod api.Module, stack []uint64) {
	interruptCheck(ctx, mod, nil)
	level, ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if !inBounds(mod, ptr, n) {
		return
	}
	truncated := n > abi.MaxLogBytes
	if truncated {
		n = abi.MaxLogBytes
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return
	}
	logger := klog.Background()
	inst := instanceFrom(ctx)
	if inst != nil {
		logger = inst.cfg.Logger
		if !inst.cfg.LogLimiter.admit(logger, len(b)) {
			return
		}
	}
	msg := string(b)
	switch abi.Level(level) {
	case abi.LevelError:
		logger.Error(nil, msg, "truncated", truncated)
	case abi.LevelDebug:
		logger.V(4).Info(msg, "truncated", truncated)
	default:
		logger.Info(msg, "truncated", truncated)
	}
}
