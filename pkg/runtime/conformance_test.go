package runtime

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// The tests of this file check each host function against docs/abi.md
// with a raw-ABI guest (driverModule) that calls it with the pointers,
// lengths and payloads of each case.

// step is one host call of the driver: op and its arguments.
type step struct{ op, a, b, c uint32 }

// Addresses in the driver's 128 KiB memory.
const (
	dataAt    = 4096      // payloads are written here
	outAt     = 64 << 10  // and read back from here
	memEnd    = 128 << 10 // the first address past the memory
	beyondMem = 0xFFFFFFF0
)

// driverRun is one reconcile of the driver.
type driverRun struct {
	steps []step
	data  []byte // written at dataAt
}

// driverOut is what a reconcile of the driver gave.
type driverOut struct {
	rets []uint32 // the return value of each step
	out  []byte   // 4 KiB from outAt
	res  Result
	err  error
}

// headerAPI answers every request with a ConfigMap and a response header.
type headerAPI struct{ delay time.Duration }

func (h headerAPI) ServeAPI(context.Context, *APIRequest) *APIResponse {
	time.Sleep(h.delay)
	return &APIResponse{Status: 200, Headers: map[string]string{"Audit-Id": "abc"}, Body: json.RawMessage(`{"kind":"ConfigMap"}`)}
}

func newDriver(t *testing.T, api APIHandler) *Instance {
	t.Helper()
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	m, err := r.Load(t.Context(), driverModule().encode())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: "test/driver", MemoryLimit: 1 << 20, API: api, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func (i *Instance) drive(ctx context.Context, t *testing.T, run driverRun) driverOut {
	t.Helper()
	if i.Closed() {
		t.Fatal("the driver instance is closed")
	}
	mem := i.module.Memory()
	steps := append(run.steps, step{op: opEnd})
	b := make([]byte, len(steps)*stepBytes)
	for k, s := range steps {
		for j, v := range []uint32{s.op, s.a, s.b, s.c} {
			binary.LittleEndian.PutUint32(b[k*stepBytes+4*j:], v)
		}
	}
	mem.Write(0, b)
	mem.Write(dataAt, run.data)
	mem.Write(outAt, make([]byte, 4096))
	res, err := i.Reconcile(ctx, Request{Namespace: "ns", Name: "key", Reason: abi.ReasonEvent})
	out := driverOut{res: res, err: err}
	if i.Closed() {
		return out
	}
	for k := range run.steps {
		v, _ := mem.ReadUint32Le(uint32(k*stepBytes + 16))
		out.rets = append(out.rets, v)
	}
	o, _ := mem.Read(outAt, 4096)
	out.out = append([]byte(nil), o...)
	return out
}

var wantInput = `{"namespace":"ns","name":"key","reason":"event","controller":"test/driver"}`

func TestABI_InputRead(t *testing.T) {
	inst := newDriver(t, nil)
	n := uint32(len(wantInput))
	tests := []struct {
		name    string
		ptr, ln uint32
		want    uint32
		wantOut string
	}{
		{name: "whole input", ptr: outAt, ln: 4096, want: n, wantOut: wantInput},
		{name: "exact length", ptr: outAt, ln: n, want: n, wantOut: wantInput},
		{name: "shorter", ptr: outAt, ln: 5, want: 5, wantOut: wantInput[:5]},
		{name: "zero length", ptr: outAt, ln: 0, want: 0},
		{name: "pointer past memory", ptr: beyondMem, ln: 10, want: abi.CountErrno(abi.EFAULT)},
		{name: "range past memory", ptr: memEnd - 4, ln: 10, want: abi.CountErrno(abi.EFAULT)},
		{name: "range wraps around", ptr: 16, ln: 0xFFFFFFFF, want: abi.CountErrno(abi.EFAULT)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inst.drive(t.Context(), t, driverRun{steps: []step{{op: opInputRead, a: tt.ptr, b: tt.ln}}})
			if got.err != nil {
				t.Fatalf("Reconcile: %v", got.err)
			}
			if got.rets[0] != tt.want {
				t.Errorf("input_read = %#x, want %#x", got.rets[0], tt.want)
			}
			if out := string(got.out[:len(tt.wantOut)]); out != tt.wantOut {
				t.Errorf("copied %q, want %q", out, tt.wantOut)
			}
		})
	}
}

func TestABI_ResultWrite(t *testing.T) {
	inst := newDriver(t, nil)
	tests := []struct {
		name        string
		data        string
		ptr, ln     uint32 // ln 0: len(data)
		want        abi.Errno
		wantRequeue time.Duration
	}{
		{name: "valid", data: `{"requeueAfterMillis":1500}`, want: abi.OK, wantRequeue: 1500 * time.Millisecond},
		{name: "unknown fields are ignored", data: `{"requeueAfterMillis":5,"future":true}`, want: abi.OK, wantRequeue: 5 * time.Millisecond},
		{name: "malformed JSON", data: `{"requeueAfterMillis":`, want: abi.EINVAL},
		{name: "not an object", data: `[1]`, want: abi.EINVAL},
		{name: "wrong type", data: `{"requeueAfterMillis":"soon"}`, want: abi.EINVAL},
		{name: "negative requeue", data: `{"requeueAfterMillis":-1}`, want: abi.EINVAL},
		{name: "over the size limit", data: `{}`, ln: abi.MaxResultBytes + 1, want: abi.E2BIG},
		{name: "pointer past memory", data: `{}`, ptr: beyondMem, want: abi.EFAULT},
		{name: "range past memory", data: `{}`, ptr: memEnd - 1, ln: 2, want: abi.EFAULT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptr, ln := uint32(dataAt), uint32(len(tt.data))
			if tt.ptr != 0 {
				ptr = tt.ptr
			}
			if tt.ln != 0 {
				ln = tt.ln
			}
			got := inst.drive(t.Context(), t, driverRun{steps: []step{{op: opResultWrite, a: ptr, b: ln}}, data: []byte(tt.data)})
			if got.err != nil {
				t.Fatalf("Reconcile: %v", got.err)
			}
			if abi.Errno(got.rets[0]) != tt.want {
				t.Errorf("result_write = %v, want %v", abi.Errno(got.rets[0]), tt.want)
			}
			if got.res.RequeueAfter != tt.wantRequeue {
				t.Errorf("RequeueAfter = %v, want %v", got.res.RequeueAfter, tt.wantRequeue)
			}
		})
	}
}

func TestABI_APIRequest(t *testing.T) {
	inst := newDriver(t, headerAPI{})
	const envelope = `{"method":"GET","path":"/api/v1/namespaces/ns/configmaps/key"}`
	ok := step{op: opAPIRequest, a: dataAt, b: uint32(len(envelope)), c: outAt}
	read := step{op: opAPIResponseRead, a: outAt + 8, b: 2048}
	tests := []struct {
		name     string
		data     string
		steps    []step
		want     []uint32
		wantBody string // in what api_response_read copied
	}{
		{name: "request and read", data: envelope, steps: []step{ok, read},
			wantBody: `{"status":200,"headers":{"Audit-Id":"abc"},"body":{"kind":"ConfigMap"}}`},
		{name: "malformed envelope", data: `{"method":`, steps: []step{{op: opAPIRequest, a: dataAt, b: 10, c: outAt}},
			want: []uint32{uint32(abi.EINVAL)}},
		{name: "no method", data: `{"path":"/api"}`, steps: []step{{op: opAPIRequest, a: dataAt, b: 15, c: outAt}},
			want: []uint32{uint32(abi.EINVAL)}},
		{name: "envelope past memory", steps: []step{{op: opAPIRequest, a: beyondMem, b: 10, c: outAt}},
			want: []uint32{uint32(abi.EFAULT)}},
		{name: "response length pointer past memory", data: envelope, steps: []step{{op: opAPIRequest, a: dataAt, b: uint32(len(envelope)), c: memEnd - 2}},
			want: []uint32{uint32(abi.EFAULT)}},
		{name: "over the size limit", steps: []step{{op: opAPIRequest, a: dataAt, b: abi.MaxRequestBytes + 1, c: outAt}},
			want: []uint32{uint32(abi.E2BIG)}},
		{name: "response read past memory", data: envelope, steps: []step{ok, {op: opAPIResponseRead, a: beyondMem, b: 10}},
			want: []uint32{0, abi.CountErrno(abi.EFAULT)}},
		{name: "no response before a request", steps: []step{read}, want: []uint32{0}},
		{name: "a failed request leaves no response", data: envelope,
			steps: []step{ok, {op: opAPIRequest, a: beyondMem, b: 1, c: outAt}, read},
			want:  []uint32{0, uint32(abi.EFAULT), 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inst.drive(t.Context(), t, driverRun{steps: tt.steps, data: []byte(tt.data)})
			if got.err != nil {
				t.Fatalf("Reconcile: %v", got.err)
			}
			if tt.want != nil && !slices.Equal(got.rets, tt.want) {
				t.Errorf("returned %#x, want %#x", got.rets, tt.want)
			}
			if tt.wantBody != "" {
				respLen := binary.LittleEndian.Uint32(got.out)
				if got.rets[1] != respLen || string(got.out[8:8+respLen]) != tt.wantBody {
					t.Errorf("response of %d bytes (read %d): %q, want %q", respLen, got.rets[1], got.out[8:8+got.rets[1]], tt.wantBody)
				}
			}
		})
	}
}

// capture is a logger that records the messages logged to it.
type capture struct {
	mu       sync.Mutex
	messages []string
}

func (c *capture) logger() logr.Logger {
	return funcr.New(func(_, args string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.messages = append(c.messages, args)
	}, funcr.Options{Verbosity: 10})
}

func (c *capture) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.messages)
}

func TestABI_Log(t *testing.T) {
	inst := newDriver(t, nil)
	var logs capture
	inst.cfg.Logger = logs.logger()
	steps := []step{
		{op: opLog, a: 0, b: beyondMem, c: 10},   // pointer out of bounds: ignored
		{op: opLog, a: 2, b: dataAt, c: 1 << 30}, // length out of bounds: ignored
		{op: opLog, a: 9, b: dataAt, c: 5},       // unknown level: info
		{op: opLog, a: 1, b: dataAt, c: 2},       // debug
	}
	got := inst.drive(t.Context(), t, driverRun{steps: steps, data: []byte("hello")})
	if got.err != nil {
		t.Fatalf("Reconcile with bad log calls: %v", got.err)
	}
	want := []string{`"level"=0 "msg"="hello" "truncated"=false`, `"level"=4 "msg"="he" "truncated"=false`}
	if msgs := logs.all(); !slices.Equal(msgs, want) {
		t.Errorf("logged %.300q, want %q", msgs, want)
	}
}

func TestABI_ReconcileReturnValues(t *testing.T) {
	inst := newDriver(t, nil)
	const result = `{"error":"it broke"}`
	tests := []struct {
		name    string
		ret     uint32
		wantErr string // "" for success
	}{
		{name: "0 succeeds", ret: 0},
		{name: "1 fails with the result's error", ret: 1, wantErr: "it broke"},
		{name: "others fail and say so", ret: 7, wantErr: "reconcile returned 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := []step{{op: opResultWrite, a: dataAt, b: uint32(len(result))}}
			run := driverRun{steps: steps, data: []byte(result)}
			// The end step returns its a: patch it in through a second
			// step list with opEnd's argument.
			got := inst.driveReturning(t, run, tt.ret)
			var ge *GuestError
			switch {
			case tt.wantErr == "" && got != nil:
				t.Fatalf("Reconcile = %v, want success", got)
			case tt.wantErr != "" && (!errors.As(got, &ge) || !strings.Contains(ge.Message, tt.wantErr)):
				t.Fatalf("Reconcile = %v, want a GuestError containing %q", got, tt.wantErr)
			}
		})
	}
}

// driveReturning runs steps and then returns ret from reconcile.
func (i *Instance) driveReturning(t *testing.T, run driverRun, ret uint32) error {
	t.Helper()
	run.steps = append(run.steps, step{op: opEnd, a: ret})
	return i.drive(t.Context(), t, run).err
}

// TestABI_HostCallsCountTowardTheDeadline checks that a reconcile whose
// host call returns after its deadline ends as a timeout, though the guest
// itself would go on.
func TestABI_HostCallsCountTowardTheDeadline(t *testing.T) {
	inst := newDriver(t, headerAPI{delay: 300 * time.Millisecond})
	const envelope = `{"method":"GET","path":"/api/v1/namespaces/ns/configmaps/key"}`
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	steps := []step{{op: opAPIRequest, a: dataAt, b: uint32(len(envelope)), c: outAt}}
	got := inst.drive(ctx, t, driverRun{steps: steps, data: []byte(envelope)})
	if !errors.Is(got.err, ErrTimeout) {
		t.Fatalf("Reconcile = %v, want ErrTimeout", got.err)
	}
	if !inst.Closed() {
		t.Error("the instance is still open after a timeout")
	}
}
