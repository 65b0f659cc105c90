package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// wasmServer is one wasm-apiserver the harness started.
type wasmServer struct {
	proc   *process
	client dynamic.Interface
	rest   rest.Interface
}

// startServer starts a wasm-apiserver named name and waits until it is
// ready. It runs with --standalone and the cluster's admin kubeconfig (a
// benchmark needs no least privilege), keeps its own objects in the
// cluster's etcd under a prefix of its own, so that its process holds the
// controllers and no database, trusts the module server and may fetch from
// it on loopback (--allow-local-module-sources), and logs every
// reconcile entry (instances.go at V(4)) for the latency figures.
func (b *bench) startServer(ctx context.Context, name string) (*wasmServer, error) {
	return b.startServerWith(ctx, name, "/bench-system-"+name)
}

// startServerWith is startServer with the etcd prefix given, which
// replicas share, and more flags.
func (b *bench) startServerWith(ctx context.Context, name, etcdPrefix string, flags ...string) (*wasmServer, error) {
	c := b.cluster
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	state := filepath.Join(b.work, "state-"+name)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{
		"--standalone", "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port), "--state-dir=" + state,
		"--kubeconfig=" + c.env["KUBECONFIG"], "--etcd-servers=" + c.env["ETCD_URL"], "--etcd-prefix=" + etcdPrefix,
		"--module-store-max-bytes=0", "--allow-local-module-sources", "--vmodule=instances=4,execpages=2,eviction=2"}, flags...)
	proc, err := startProcess(b.work, "wasm-apiserver-"+name, []string{"SSL_CERT_FILE=" + b.modules.caFile},
		filepath.Join(b.bin, "wasm-apiserver"), args...)
	if err != nil {
		return nil, err
	}
	s := &wasmServer{proc: proc}
	if s.client, s.rest, err = waitStandalone(ctx, proc, filepath.Join(state, "kubeconfig")); err != nil {
		proc.stop(time.Minute)
		return nil, err
	}
	return s, nil
}

func (s *wasmServer) stop() { s.proc.stop(time.Minute) }

func (s *wasmServer) memory() (memory, error) { return readMemory(s.proc.cmd.Process.Pid) }

// releaseWait bounds how long quietMemory waits for the server to drop
// its executable's pages: it does once quiet for 30 s.
const releaseWait = 90 * time.Second

// quietMemory reads the server's memory once it has dropped its
// executable's resident pages after now, as an idle server does once
// quiet (pkg/cmd/server/execpages.go), or after releaseWait.
func (s *wasmServer) quietMemory() (memory, error) { return s.quietMemorySince(time.Now()) }

// quietMemorySince is quietMemory after the first release logged at or
// after since.
func (s *wasmServer) quietMemorySince(since time.Time) (memory, error) {
	for deadline := since.Add(releaseWait); time.Now().Before(deadline); time.Sleep(time.Second) {
		t, err := logged(s.proc.log.Name(), []byte(`"Dropped the executable's resident pages"`), nil, since)
		if err != nil {
			return memory{}, err
		}
		if !t.IsZero() {
			return s.memory()
		}
	}
	logf("%s: no release of the executable's pages within %s", s.proc.log.Name(), releaseWait)
	return s.memory()
}

// profile saves the server's pprof profile which ("heap", "profile") with
// the given query parameters to file.
func (s *wasmServer) profile(ctx context.Context, which, file string, params map[string]string) error {
	req := s.rest.Get().AbsPath("/debug/pprof/" + which)
	for k, v := range params {
		req = req.Param(k, v)
	}
	data, err := req.DoRaw(ctx)
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

// compactionWait bounds how long waitCompacted waits: the host compacts a
// warm guest 10 s after its last reconcile, two at a time.
const compactionWait = 3 * time.Minute

// waitCompacted waits until the server's compactions of quiet guests
// have started and then given back nothing more for 5 s, and returns what
// they gave back (wasm_apiserver_guest_memory_released_bytes_total).
func waitCompacted(ctx context.Context, s *wasmServer) (float64, error) {
	released := func() float64 {
		v, _ := metricSum(ctx, s.rest, "wasm_apiserver_guest_memory_released_bytes_total", `trigger="idle"`)
		return v
	}
	start := released()
	last, stable := start, time.Now()
	for deadline := time.Now().Add(compactionWait); time.Now().Before(deadline); time.Sleep(time.Second) {
		v := released()
		if v != last {
			last, stable = v, time.Now()
			continue
		}
		if v > start && time.Since(stable) >= 5*time.Second {
			return v - start, nil
		}
	}
	return 0, fmt.Errorf("no compaction of the quiet guests finished within %s", compactionWait)
}
