package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// settle is how long a side is left alone before its memory is read.
const settle = 5 * time.Second

// bench runs the measurements on one cluster.
type bench struct {
	root, work, bin string
	cluster         *cluster
	// nativeMax is the largest n for which the native processes run.
	nativeMax int
}

// result is what one n measured on both sides.
type result struct {
	n int
	// wasmBase is wasm-apiserver before any controller; wasmIdle with n
	// controllers, every one suspended after its first reconcile.
	wasmBase, wasmIdle memory
	// wasmHeap is the Go heap in use of wasm-apiserver with n suspended
	// controllers, from its go_memstats_heap_inuse_bytes; 0 if unknown.
	wasmHeap int64
	// native is the sum over n native processes, idle after their first
	// reconcile; nativeRun says whether they ran.
	native    memory
	nativeRun bool
	// Watches opened on kube-apiserver by each side.
	wasmWatches, nativeWatches float64
	// wasmBaseWatches is how many of wasmWatches wasm-apiserver opens with
	// no controller (its own API machinery: admission, priority and fairness).
	wasmBaseWatches float64
	// Time from the start of the controllers to the last copy made.
	wasmReady, nativeReady time.Duration
	// wasmActive is wasm-apiserver with every guest instance kept in
	// memory (policy Never) after the warm latency run.
	wasmActive memory
	// Write-to-copy latencies: guests closed after each reconcile (policy
	// Immediate), kept warm (Never), restored from a snapshot (Immediate
	// with snapshot), and the native processes.
	latClosed, latWarm, latSnapshot, latNative []time.Duration
}

// setUp creates what every n shares: the controllers' RBAC, their module
// and the two namespaces.
func (b *bench) setUp(ctx context.Context) error {
	c := b.cluster
	if err := runCmd(ctx, nil, "kubectl", "--kubeconfig", c.env["KUBECONFIG"], "apply", "-f",
		filepath.Join(b.root, "examples", "configmap-replicator", "rbac.yaml")); err != nil {
		return err
	}
	if err := publishModule(ctx, c.client, filepath.Join(b.root, "_output", "guests", "configmap-replicator.wasm")); err != nil {
		return err
	}
	return setUpNamespaces(ctx, c.client)
}

func (b *bench) measure(ctx context.Context, n int) (result, error) {
	r := result{n: n}
	if err := ensureSources(ctx, b.cluster.client, n); err != nil {
		return r, err
	}
	if err := b.measureWasm(ctx, &r); err != nil {
		return r, fmt.Errorf("wasm-apiserver: %w", err)
	}
	if n > b.nativeMax {
		logf("n=%d: not running %d native processes (more than %d)", n, n, b.nativeMax)
		return r, nil
	}
	r.nativeRun = true
	if err := b.measureNative(ctx, &r); err != nil {
		return r, fmt.Errorf("native: %w", err)
	}
	return r, nil
}

// timeoutFor bounds a wait that grows with the number of controllers.
func timeoutFor(n int) time.Duration {
	return 2*time.Minute + time.Duration(n)*time.Second
}

func (b *bench) watches(ctx context.Context) (float64, error) {
	return metricSum(ctx, b.cluster.client.CoreV1().RESTClient(), "apiserver_longrunning_requests", `verb="WATCH"`)
}

func (b *bench) measureWasm(ctx context.Context, r *result) error {
	c, n := b.cluster, r.n
	if err := deleteCopies(ctx, c.client); err != nil {
		return err
	}
	watches0, err := b.watches(ctx)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	state := filepath.Join(b.work, "wasm-"+strconv.Itoa(n))
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	logf("n=%d: starting wasm-apiserver", n)
	// The admin kubeconfig: a benchmark needs no least privilege. The
	// server's own objects go to the cluster's etcd under a prefix of
	// their own, so that the process holds the controllers and no database.
	srv, err := startProcess(b.work, "wasm-apiserver-"+strconv.Itoa(n), filepath.Join(b.bin, "wasm-apiserver"),
		"--standalone", "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--state-dir="+state,
		"--kubeconfig="+c.env["KUBECONFIG"], "--etcd-servers="+c.env["ETCD_URL"], "--etcd-prefix=/bench-system-"+strconv.Itoa(n))
	if err != nil {
		return err
	}
	defer srv.stop(time.Minute)
	client, srvREST, err := waitStandalone(ctx, srv, filepath.Join(state, "kubeconfig"))
	if err != nil {
		return err
	}
	time.Sleep(settle)
	if r.wasmBase, err = readMemory(srv.cmd.Process.Pid); err != nil {
		return err
	}
	w, err := b.watches(ctx)
	if err != nil {
		return err
	}
	r.wasmBaseWatches = w - watches0

	start := time.Now()
	if err := createWasmControllers(ctx, client, n, "Immediate"); err != nil {
		return err
	}
	if err := waitCopies(ctx, c.client, n, timeoutFor(n)); err != nil {
		return err
	}
	r.wasmReady = time.Since(start)
	if err := waitPhases(ctx, client, n, timeoutFor(n), "Suspended"); err != nil {
		return err
	}
	logf("n=%d: %d WasmControllers made their copies in %s and are suspended", n, n, r.wasmReady.Round(time.Millisecond))
	time.Sleep(settle)
	if r.wasmIdle, err = readMemory(srv.cmd.Process.Pid); err != nil {
		return err
	}
	if heap, err := metricSum(ctx, srvREST, "go_memstats_heap_inuse_bytes"); err == nil {
		r.wasmHeap = int64(heap)
	}
	if w, err = b.watches(ctx); err != nil {
		return err
	}
	r.wasmWatches = w - watches0

	logf("n=%d: write-to-copy latency, guests closed after each reconcile", n)
	if r.latClosed, err = writeToCopy(ctx, c.client, n, latencySamples); err != nil {
		return err
	}
	logf("n=%d: write-to-copy latency, warm guests", n)
	if err := setSuspend(ctx, client, n, "Never", false); err != nil {
		return err
	}
	if err := waitPhases(ctx, client, n, timeoutFor(n), "Active", "Suspended"); err != nil {
		return err
	}
	if _, err := writeToCopy(ctx, c.client, n, n); err != nil { // every guest instantiated
		return err
	}
	if err := waitPhases(ctx, client, n, timeoutFor(n), "Active"); err != nil {
		return err
	}
	if r.latWarm, err = writeToCopy(ctx, c.client, n, latencySamples); err != nil {
		return err
	}
	time.Sleep(settle)
	if r.wasmActive, err = readMemory(srv.cmd.Process.Pid); err != nil {
		return err
	}
	logf("n=%d: write-to-copy latency, guests restored from snapshots", n)
	if err := setSuspend(ctx, client, n, "Immediate", true); err != nil {
		return err
	}
	if err := waitPhases(ctx, client, n, timeoutFor(n), "Active", "Suspended"); err != nil {
		return err
	}
	if _, err := writeToCopy(ctx, c.client, n, n); err != nil { // every guest snapshotted once
		return err
	}
	if err := waitPhases(ctx, client, n, timeoutFor(n), "Suspended"); err != nil {
		return err
	}
	r.latSnapshot, err = writeToCopy(ctx, c.client, n, latencySamples)
	return err
}

// waitStandalone waits until the standalone server answers /readyz and
// returns clients of it.
func waitStandalone(ctx context.Context, srv *process, kubeconfig string) (dynamic.Interface, rest.Interface, error) {
	var client dynamic.Interface
	var raw rest.Interface
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if srv.exited() {
			return false, fmt.Errorf("exited: %v (log %s)", srv.err, srv.log.Name())
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			last = err
			return false, nil
		}
		cfg.QPS, cfg.Burst = 200, 400
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return false, err
		}
		if _, err := kc.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
			last = err
			return false, nil
		}
		raw = kc.Discovery().RESTClient()
		client, err = dynamic.NewForConfig(cfg)
		return err == nil, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("not ready (last: %v): %w", last, err)
	}
	return client, raw, nil
}

func (b *bench) measureNative(ctx context.Context, r *result) error {
	c, n := b.cluster, r.n
	if err := deleteCopies(ctx, c.client); err != nil {
		return err
	}
	watches0, err := b.watches(ctx)
	if err != nil {
		return err
	}
	logf("n=%d: starting %d native controllers", n, n)
	start := time.Now()
	procs := make([]*process, 0, n)
	defer func() { stopAll(procs) }()
	for i := range n {
		p, err := startProcess(b.work, "native-"+strconv.Itoa(i), filepath.Join(b.bin, "native-replicator"),
			"--kubeconfig="+c.env["KUBECONFIG"],
			"--namespaces="+srcNamespace+","+dstNamespace,
			"--namespace-selector="+targetLabel+"=true",
			"--source-selector="+setLabel+"="+strconv.Itoa(i))
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	if err := waitCopies(ctx, c.client, n, timeoutFor(n)); err != nil {
		return err
	}
	r.nativeReady = time.Since(start)
	for _, p := range procs {
		if p.exited() {
			return fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.log.Name())
		}
	}
	logf("n=%d: %d native controllers made their copies in %s", n, n, r.nativeReady.Round(time.Millisecond))
	time.Sleep(settle)
	for _, p := range procs {
		m, err := readMemory(p.cmd.Process.Pid)
		if err != nil {
			return err
		}
		r.native = r.native.add(m)
	}
	w, err := b.watches(ctx)
	if err != nil {
		return err
	}
	r.nativeWatches = w - watches0
	logf("n=%d: write-to-copy latency, native controllers", n)
	r.latNative, err = writeToCopy(ctx, c.client, n, latencySamples)
	return err
}

// stopAll stops processes in parallel.
func stopAll(procs []*process) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(30 * time.Second) })
	}
	wg.Wait()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
