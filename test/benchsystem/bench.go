package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// settle is how long a side is left alone before its memory is read.
const settle = 5 * time.Second

// nativeBatch is how many native processes start together.
const nativeBatch = 50

// idleWindow is how long a side's requests are counted once it is idle.
const idleWindow = 20 * time.Second

// bench runs the measurements on one cluster.
type bench struct {
	root, work, bin string
	cluster         *cluster
	modules         *moduleServer
	meter           *requestMeter
	// Largest n for which the native processes and the distinct modules
	// run, and for which busy distinct modules keep the default suspend
	// policy.
	nativeMax, distinctMax, busyDistinctMax int
	// nativeDistinctMax is the largest n for which the native side of
	// distinct executables runs.
	nativeDistinctMax int
	// sides says which sides run.
	sides sides
	// profiles receives the servers' pprof profiles.
	profiles string
}

// sides are the ways of running the controllers that a run measures.
type sides struct {
	copies, distinct, bundle, native, nativeDistinct, replicas bool
}

// allSides is every side.
func allSides() sides {
	return sides{copies: true, distinct: true, bundle: true, native: true, nativeDistinct: true, replicas: true}
}

// fields are the sides by the names parseSides reads, in the order String
// lists them.
func (s *sides) fields() []struct {
	name string
	on   *bool
} {
	return []struct {
		name string
		on   *bool
	}{{"copies", &s.copies}, {"distinct", &s.distinct}, {"bundle", &s.bundle}, {"native", &s.native},
		{"native-distinct", &s.nativeDistinct}, {"replicas", &s.replicas}}
}

// parseSides parses a comma-separated list of side names.
func parseSides(list string) (sides, error) {
	var s sides
	fields := s.fields()
	for _, name := range strings.Split(list, ",") {
		known := false
		for _, f := range fields {
			if f.name == strings.TrimSpace(name) {
				*f.on, known = true, true
			}
		}
		if !known {
			return s, fmt.Errorf("bad side %q (%s)", name, allSides())
		}
	}
	return s, nil
}

// String lists the sides that run, as parseSides reads them.
func (s sides) String() string {
	var on []string
	for _, f := range s.fields() {
		if *f.on {
			on = append(on, f.name)
		}
	}
	return strings.Join(on, ",")
}

// side is what one way of running n controllers measured.
type side struct {
	run bool
	// idle is the memory once every controller made its copy and, for
	// wasm-apiserver, is Suspended; busy the largest during a stream of
	// writes (see busy).
	idle, busy memory
	busyRun    bool
	// busyPolicy is wasm-apiserver's suspend policy during the busy stream.
	busyPolicy string
	// heap is wasm-apiserver's Go heap in use when idle.
	heap int64
	// watches is the rise of kube-apiserver's watches while the side runs.
	watches float64
	// ready is the time from the start of the controllers to the last copy.
	ready time.Duration
	// suspendedAt is when idle was measured.
	suspendedAt time.Time
	// Requests on kube-apiserver by the side: from its start until every
	// copy is made and it is idle, in a minute once idle, and per write of
	// the busy stream.
	reqStart, reqIdlePerMin, reqPerBusyWrite float64
	// idleRequests is what kube-apiserver served in the idle window, by
	// verb and resource.
	idleRequests string
}

// result is what one n measured.
type result struct {
	n int
	// wasmBase is wasm-apiserver before any controller, and the watches it
	// opens then.
	wasmBase        memory
	wasmBaseWatches float64
	// copies runs n copies of one module, distinct n distinct modules,
	// bundle n controllers drawn from the ten reconcilers of one module;
	// native n processes of one executable, nativeDistinct n processes of n
	// executables, one each.
	copies, distinct, bundle, native, nativeDistinct side
	// replicas runs the n copies on three sharded replicas.
	replicas replicasSide
	// wasmActive is wasm-apiserver with every guest instance kept in
	// memory (policy Never) after the warm latency run, and
	// wasmActiveCompacted the same once the host compacted the quiet
	// guests (pkg/host/compact.go).
	wasmActive, wasmActiveCompacted memory
	// copiesUnloaded is the copies, suspended, once their module gave up
	// its compiled code (--compiled-module-idle-unload), and unloadedWake
	// the one wake after, which loads it again.
	copiesUnloaded memory
	unloadedWake   latency
	// Latencies of guests closed after each reconcile (policy Immediate),
	// restored from a snapshot (Immediate with snapshot), kept warm
	// (Never), and of the native processes.
	closed, snapshot, warm, nativeLat latency
	// Latencies of the bundle's guests closed after each reconcile, and of
	// the distinct native executables.
	bundleClosed, nativeDistinctLat latency
}

// setUp creates what every n shares: the controllers' RBAC and the two
// namespaces, and measures kube-apiserver's background requests.
func (b *bench) setUp(ctx context.Context) error {
	c := b.cluster
	if err := runCmd(ctx, nil, "kubectl", "--kubeconfig", c.env["KUBECONFIG"], "apply", "-f",
		filepath.Join(b.root, "examples", "configmap-replicator", "rbac.yaml")); err != nil {
		return err
	}
	if err := setUpNamespaces(ctx, c.client); err != nil {
		return err
	}
	b.meter = &requestMeter{c: c}
	if err := b.meter.measureBackground(ctx, idleWindow); err != nil {
		return err
	}
	logf("kube-apiserver's background: %.2f requests/s", b.meter.background)
	return nil
}

// measure measures the sides of r.n controllers into r, calling measured
// after each side so that a long run that fails late keeps what it
// measured.
func (b *bench) measure(ctx context.Context, r *result, measured func() error) error {
	n := r.n
	if err := ensureSources(ctx, b.cluster.client, n); err != nil {
		return err
	}
	if b.sides.copies || b.sides.distinct || b.sides.bundle || b.sides.replicas {
		if err := b.measureBase(ctx, r); err != nil {
			return fmt.Errorf("wasm-apiserver, no controller: %w", err)
		}
	}
	for _, sd := range []struct {
		name string
		on   bool
		max  int
		run  func(context.Context, *result) error
	}{
		{"wasm-apiserver, copies", b.sides.copies, math.MaxInt, b.measureCopies},
		{"wasm-apiserver, distinct modules", b.sides.distinct, b.distinctMax, b.measureDistinct},
		{"wasm-apiserver, bundle", b.sides.bundle, math.MaxInt, b.measureBundle},
		{"native processes", b.sides.native, b.nativeMax, b.measureNative},
		{"native processes, distinct executables", b.sides.nativeDistinct, min(b.nativeMax, b.nativeDistinctMax), b.measureNativeDistinct},
		{"wasm-apiserver, " + strconv.Itoa(replicaCount) + " replicas", b.sides.replicas, math.MaxInt, b.measureReplicas},
	} {
		if !sd.on {
			continue
		}
		if n > sd.max {
			logf("n=%d: not running %s (more than %d)", n, sd.name, sd.max)
			continue
		}
		if err := sd.run(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", sd.name, err)
		}
		if err := measured(); err != nil {
			return err
		}
	}
	return nil
}

// timeoutFor bounds a wait that grows with the number of controllers: 3 s
// each leaves room for compiling n distinct modules.
func timeoutFor(n int) time.Duration {
	return 2*time.Minute + time.Duration(n)*3*time.Second
}

// clearSide deletes every copy, so that the next side shows its work by
// making them again, and returns kube-apiserver's watches before it starts.
func (b *bench) clearSide(ctx context.Context) (watches0 float64, err error) {
	if err := deleteCopies(ctx, b.cluster.client); err != nil {
		return 0, err
	}
	return b.watches(ctx)
}

func (b *bench) watches(ctx context.Context) (float64, error) {
	return metricSum(ctx, b.cluster.client.CoreV1().RESTClient(), "apiserver_longrunning_requests", `verb="WATCH"`)
}

// startSide starts the controllers of a side with start and measures until
// every copy is made and the side is idle (wait): time, requests, memory
// and watches. watches0 is kube-apiserver's watches before the side.
func (b *bench) startSide(ctx context.Context, s *side, n int, watches0 float64, mem func() (memory, error),
	start, wait func() error) error {
	s.run = true
	m0, err := b.meter.mark(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := start(); err != nil {
		return err
	}
	if err := waitCopies(ctx, b.cluster.client, n, timeoutFor(n)); err != nil {
		return err
	}
	s.ready = time.Since(t0)
	if err := wait(); err != nil {
		return err
	}
	time.Sleep(settle)
	if s.reqStart, err = b.meter.since(ctx, m0); err != nil {
		return err
	}
	if s.idle, err = mem(); err != nil {
		return err
	}
	s.suspendedAt = time.Now()
	w, err := b.watches(ctx)
	if err != nil {
		return err
	}
	s.watches = w - watches0
	m1, err := b.meter.mark(ctx)
	if err != nil {
		return err
	}
	time.Sleep(idleWindow)
	idle, by, err := b.meter.sinceBy(ctx, m1)
	s.reqIdlePerMin, s.idleRequests = idle*float64(time.Minute)/float64(idleWindow), by
	return err
}

// runBusy runs the busy stream against a side.
func (b *bench) runBusy(ctx context.Context, s *side, n int, mem func() (memory, error)) error {
	m0, err := b.meter.mark(ctx)
	if err != nil {
		return err
	}
	peak, writes, err := busy(ctx, b.cluster.client, n, mem)
	if err != nil {
		return err
	}
	time.Sleep(settle) // the last writes' copies
	req, err := b.meter.since(ctx, m0)
	if err != nil {
		return err
	}
	s.busy, s.busyRun, s.reqPerBusyWrite = peak, true, req/float64(max(1, writes))
	return nil
}

// startWasmSide starts a wasm-apiserver named name with n controllers whose
// module is moduleOf(i), all suspended after their first reconcile.
func (b *bench) startWasmSide(ctx context.Context, s *side, n int, name string, moduleOf func(i int) map[string]any, flags ...string) (*wasmServer, error) {
	watches0, err := b.clearSide(ctx)
	if err != nil {
		return nil, err
	}
	logf("n=%d: starting wasm-apiserver (%s)", n, name)
	srv, err := b.startServerWith(ctx, name, "/bench-system-"+name, flags...)
	if err != nil {
		return nil, err
	}
	err = b.startSide(ctx, s, n, watches0, srv.quietMemory,
		func() error { return createWasmControllers(ctx, srv.client, n, "Immediate", moduleOf) },
		func() error { return waitPhases(ctx, srv.client, n, timeoutFor(n), "Suspended") })
	if err != nil {
		srv.stop()
		return nil, err
	}
	if heap, err := metricSum(ctx, srv.rest, "go_memstats_heap_inuse_bytes"); err == nil {
		s.heap = int64(heap)
	}
	logf("n=%d: %d WasmControllers (%s) made their copies in %s and are suspended", n, n, name, s.ready.Round(time.Millisecond))
	return srv, nil
}

// measureBase measures wasm-apiserver with no controller: a server of its
// own, its memory and the watches it opens.
func (b *bench) measureBase(ctx context.Context, r *result) error {
	n := r.n
	watches0, err := b.watches(ctx)
	if err != nil {
		return err
	}
	logf("n=%d: wasm-apiserver with no controller", n)
	base, err := b.startServer(ctx, "base-"+strconv.Itoa(n))
	if err != nil {
		return err
	}
	defer base.stop()
	if r.wasmBase, err = base.quietMemory(); err != nil {
		return err
	}
	w, err := b.watches(ctx)
	r.wasmBaseWatches = w - watches0
	return err
}

// measureCopies runs n copies of the replicator: memory suspended, the
// latencies, and busy.
func (b *bench) measureCopies(ctx context.Context, r *result) error {
	c, n := b.cluster, r.n
	name := "copies-" + strconv.Itoa(n)
	started := time.Now()
	srv, err := b.startWasmSide(ctx, &r.copies, n, name, func(int) map[string]any { return b.modules.module("configmap-replicator", 0) },
		"--compiled-module-idle-unload="+copiesIdleUnload.String())
	if err != nil {
		return err
	}
	defer srv.stop()
	serverLog := func(int) string { return srv.proc.log.Name() }

	// Nothing asks the server anything until the code is unloaded: a
	// request runs code of the executable that the server dropped before
	// the suspended figure, and the heap profile reads its symbol tables.
	logf("n=%d: suspended, until the module's compiled code is unloaded", n)
	at, err := waitCodeUnloaded(ctx, srv, started)
	if err != nil {
		return err
	}
	if at.Before(r.copies.suspendedAt) {
		logf("n=%d: the module's compiled code was unloaded before the suspended copies were measured", n)
	}
	// The server gives back what the unload left (garbage, free heap, the
	// code that ran) at its next release, due soon after an unload.
	if r.copiesUnloaded, err = srv.quietMemorySince(at); err != nil {
		return err
	}
	if err := srv.profile(ctx, "heap", filepath.Join(b.profiles, "heap-"+name+".pb.gz"), map[string]string{"gc": "1"}); err != nil {
		logf("n=%d: no heap profile: %v", n, err)
	}
	if r.unloadedWake, err = writeToCopy(ctx, c.client, n, 1, serverLog); err != nil {
		return err
	}

	logf("n=%d: latency, guests closed after each reconcile", n)
	if r.closed, err = writeToCopy(ctx, c.client, n, latencySamples, serverLog); err != nil {
		return err
	}
	logf("n=%d: latency, warm guests", n)
	if err := setSuspend(ctx, srv.client, "replicator-", n, "Never", false); err != nil {
		return err
	}
	if err := waitPhases(ctx, srv.client, n, timeoutFor(n), "Active", "Suspended"); err != nil {
		return err
	}
	if _, err := writeToCopy(ctx, c.client, n, n, nil); err != nil { // every guest instantiated
		return err
	}
	if err := waitPhases(ctx, srv.client, n, timeoutFor(n), "Active"); err != nil {
		return err
	}
	if r.warm, err = writeToCopy(ctx, c.client, n, latencySamples, serverLog); err != nil {
		return err
	}
	time.Sleep(settle)
	if r.wasmActive, err = srv.memory(); err != nil {
		return err
	}
	if released, err := waitCompacted(ctx, srv); err != nil {
		logf("n=%d: %v", n, err)
	} else {
		logf("n=%d: the quiet guests' compaction gave back %s", n, mib(int64(released)))
		if r.wasmActiveCompacted, err = srv.memory(); err != nil {
			return err
		}
	}
	logf("n=%d: latency, guests restored from snapshots", n)
	if err := setSuspend(ctx, srv.client, "replicator-", n, "Immediate", true); err != nil {
		return err
	}
	if err := waitPhases(ctx, srv.client, n, timeoutFor(n), "Active", "Suspended"); err != nil {
		return err
	}
	if _, err := writeToCopy(ctx, c.client, n, n, nil); err != nil { // every guest snapshotted once
		return err
	}
	if err := waitPhases(ctx, srv.client, n, timeoutFor(n), "Suspended"); err != nil {
		return err
	}
	if r.snapshot, err = writeToCopy(ctx, c.client, n, latencySamples, serverLog); err != nil {
		return err
	}
	logf("n=%d: busy, policy Idle (the default)", n)
	if err := b.busyWasm(ctx, srv, &r.copies, n, name, "Idle"); err != nil {
		return err
	}
	return nil
}

// copiesIdleUnload is the copies' --compiled-module-idle-unload: longer
// than startWasmSide takes to measure them suspended, so that figure keeps
// the module's compiled code, as a server woken within the default 10
// minutes does.
const copiesIdleUnload = 150 * time.Second

// waitCodeUnloaded waits until srv, started after since, logs that it
// unloaded a module's compiled code for being idle (the copies have one
// module), and returns when it did.
func waitCodeUnloaded(ctx context.Context, srv *wasmServer, since time.Time) (time.Time, error) {
	var at time.Time
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*copiesIdleUnload, true, func(context.Context) (bool, error) {
		var err error
		at, err = logged(srv.proc.log.Name(), []byte(`"Evicted the compiled code of a module"`), []byte(`reason="idle"`), since)
		return !at.IsZero(), err
	})
	return at, err
}

// busyWasm switches the controllers to the suspend policy given (Idle, 30 s,
// the default; or Immediate) and runs the busy stream, with a CPU profile
// of its middle.
func (b *bench) busyWasm(ctx context.Context, srv *wasmServer, s *side, n int, name, policy string) error {
	if err := setSuspend(ctx, srv.client, "replicator-", n, policy, false); err != nil {
		return err
	}
	if err := waitPhases(ctx, srv.client, n, timeoutFor(n), "Active", "Suspended"); err != nil {
		return err
	}
	s.busyPolicy = policy
	profiled := make(chan error, 1)
	go func() {
		time.Sleep(busyWindow / 3)
		profiled <- srv.profile(ctx, "profile", filepath.Join(b.profiles, "cpu-busy-"+name+".pb.gz"),
			map[string]string{"seconds": strconv.Itoa(int(busyWindow / 3 / time.Second))})
	}()
	if err := b.runBusy(ctx, s, n, srv.memory); err != nil {
		return err
	}
	if err := <-profiled; err != nil {
		logf("n=%d: no CPU profile: %v", n, err)
	}
	return nil
}

// measureDistinct runs n distinct modules: suspended, and busy.
func (b *bench) measureDistinct(ctx context.Context, r *result) error {
	n := r.n
	name := "distinct-" + strconv.Itoa(n)
	srv, err := b.startWasmSide(ctx, &r.distinct, n, name, func(i int) map[string]any { return b.modules.module("configmap-replicator", i+1) })
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := srv.profile(ctx, "heap", filepath.Join(b.profiles, "heap-"+name+".pb.gz"), map[string]string{"gc": "1"}); err != nil {
		logf("n=%d: no heap profile: %v", n, err)
	}
	// Beyond busyDistinctMax, guests that stay in memory 30 s after a wake
	// would hold the compiled code of nearly every module at once (about
	// 22 MB each); closed after each reconcile, they give it up under
	// --compiled-module-budget and reload it from the disk cache.
	policy := "Idle"
	if n > b.busyDistinctMax {
		policy = "Immediate"
	}
	logf("n=%d: busy distinct modules, policy %s", n, policy)
	return b.busyWasm(ctx, srv, &r.distinct, n, name, policy)
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
