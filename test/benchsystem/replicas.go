package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
	"github.com/wasm-apiserver/wasm-apiserver/test/promtext"
)

// replicaCount is how many sharded replicas the replicas side runs.
const replicaCount = 3

// replicaGuests is each replica's --max-running-guests: the replicas
// share the machine's cores, and together run about as many guests at once
// as one server with the default (8). With 8 each, the 24 guests at once
// that the start of N = 1,000 runs (each controller checks every source)
// took more than their 10 s reconcile timeout on two cores, again and
// again, and the side never settled.
const replicaGuests = 3

// leaseNamespace holds the replicas' Leases: the default of
// --sharding-lease-namespace, which the harness creates.
const leaseNamespace = "wasm-system"

// replicasSide is what the n copies measured on replicaCount sharded
// replicas: the sums over the replicas in side (its busy memory is the
// largest sum of one sample), each replica's own figures in replicas.
type replicasSide struct {
	side
	replicas []replicaStats
	// unowned is the controllers whose status names no owner when idle.
	unowned int
}

// replicaStats is what one replica measured.
type replicaStats struct {
	id string
	// started is the replica's memory once every replica holds its Lease,
	// before any controller; idle and busy as side's, busy its own
	// largest sample.
	started, idle, busy memory
	// heap is its Go heap in use when idle.
	heap int64
	// owned is the controllers whose status.owner names the replica;
	// loaded those it runs by its own metrics (guests active and
	// suspended).
	owned, loaded int
	// informers is how many informers it runs for guests, and scopes
	// what each one watches and caches, sorted.
	informers int
	scopes    []string
}

func replicaID(i int) string { return "replica-" + strconv.Itoa(i) }

// measureReplicas runs the n copies of the replicator on replicaCount
// replicas with --sharding that share one etcd (the cluster's, under a
// prefix of their own): each replica's memory when it has joined, when
// its controllers are suspended and busy, what it owns and the informers
// it holds.
func (b *bench) measureReplicas(ctx context.Context, r *result) error {
	n, s := r.n, &r.replicas
	watches0, err := b.clearSide(ctx)
	if err != nil {
		return err
	}
	if err := ensureNamespace(ctx, b.cluster.client, leaseNamespace); err != nil {
		return err
	}
	group := "bench-replicas-" + strconv.Itoa(n)
	logf("n=%d: starting %d wasm-apiserver replicas (sharding group %s)", n, replicaCount, group)
	srvs, err := b.startReplicas(ctx, group)
	defer stopServers(srvs)
	if err != nil {
		return err
	}
	if err := waitMembers(ctx, b.cluster.client, group, replicaCount); err != nil {
		return err
	}
	time.Sleep(settle)
	s.replicas = make([]replicaStats, len(srvs))
	for i, srv := range srvs {
		s.replicas[i].id = replicaID(i)
		if s.replicas[i].started, err = srv.memory(); err != nil {
			return err
		}
	}
	// sum reads every replica's memory, hands each to each, and returns
	// their sum.
	sum := func(each func(i int, m memory)) func() (memory, error) {
		return func() (memory, error) {
			var total memory
			for i, srv := range srvs {
				if srv.proc.exited() {
					return total, fmt.Errorf("%s exited: %v (log %s)", replicaID(i), srv.proc.err, srv.proc.log.Name())
				}
				m, err := srv.memory()
				if err != nil {
					return total, err
				}
				each(i, m)
				total = total.add(m)
			}
			return total, nil
		}
	}
	// Any replica serves the API: the controllers are created through the
	// first and each runs on the one that owns it.
	client := srvs[0].client
	err = b.startSide(ctx, &s.side, n, watches0, sum(func(i int, m memory) { s.replicas[i].idle = m }),
		func() error {
			return createWasmControllers(ctx, client, n, "Immediate", func(int) map[string]any {
				return b.modules.module("configmap-replicator", 0)
			})
		},
		func() error { return waitPhases(ctx, client, n, timeoutFor(n), "Suspended") })
	if err != nil {
		return err
	}
	if err := readReplicas(ctx, srvs, s); err != nil {
		return err
	}
	logf("n=%d: %d WasmControllers on %d replicas made their copies in %s and are suspended", n, n, replicaCount, s.ready.Round(time.Millisecond))
	logf("n=%d: busy replicas, policy Idle (the default)", n)
	if err := setSuspend(ctx, client, "replicator-", n, "Idle", false); err != nil {
		return err
	}
	if err := waitPhases(ctx, client, n, timeoutFor(n), "Active", "Suspended"); err != nil {
		return err
	}
	s.busyPolicy = "Idle"
	return b.runBusy(ctx, &s.side, n, sum(func(i int, m memory) {
		if m.PSS > s.replicas[i].busy.PSS {
			s.replicas[i].busy = m
		}
	}))
}

// startReplicas starts the replicas of group, each with its own state
// directory and identity, on one etcd prefix. It returns those it started
// even when one fails, for the caller to stop.
func (b *bench) startReplicas(ctx context.Context, group string) ([]*wasmServer, error) {
	var srvs []*wasmServer
	for i := range replicaCount {
		id := replicaID(i)
		srv, err := b.startServerWith(ctx, group+"-"+id, "/bench-system-"+group,
			"--sharding", "--sharding-group="+group, "--sharding-identity="+id,
			"--max-running-guests="+strconv.Itoa(replicaGuests))
		if err != nil {
			return srvs, fmt.Errorf("%s: %w", id, err)
		}
		srvs = append(srvs, srv)
	}
	return srvs, nil
}

// stopServers stops servers at once: one by one, those left would take
// over the controllers of each stopped before them.
func stopServers(srvs []*wasmServer) {
	var wg sync.WaitGroup
	for _, s := range srvs {
		wg.Go(s.stop)
	}
	wg.Wait()
}

// ensureNamespace creates namespace name if it does not exist.
func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// waitMembers waits until n replicas of group hold a Lease.
func waitMembers(ctx context.Context, client kubernetes.Interface, group string, n int) error {
	var have int
	err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		leases, err := client.CoordinationV1().Leases(leaseNamespace).List(ctx,
			metav1.ListOptions{LabelSelector: sharding.GroupLabel + "=" + group})
		if err != nil {
			return false, nil
		}
		have = len(leases.Items)
		return have >= n, nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d replicas' Leases within a minute: %w", have, n, err)
	}
	return nil
}

// readReplicas reads who owns each controller, from the controllers'
// status, and each replica's heap, controllers and informers, from its
// metrics.
func readReplicas(ctx context.Context, srvs []*wasmServer, s *replicasSide) error {
	list, err := srvs[0].client.Resource(wasmControllers).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	owned := map[string]int{}
	for _, wc := range list.Items {
		owner, _, _ := unstructured.NestedString(wc.Object, "status", "owner")
		owned[owner]++
	}
	s.unowned = owned[""]
	for i, srv := range srvs {
		st := &s.replicas[i]
		st.owned = owned[st.id]
		page, err := srv.rest.Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", st.id, err)
		}
		var heap, active, suspended, informers float64
		for _, m := range []struct {
			name string
			v    *float64
		}{{"go_memstats_heap_inuse_bytes", &heap}, {"wasm_apiserver_guests_active", &active},
			{"wasm_apiserver_guests_suspended", &suspended}, {"wasm_apiserver_informers", &informers}} {
			if *m.v, err = promtext.Sum(page, m.name); err != nil {
				return fmt.Errorf("%s: %w", st.id, err)
			}
		}
		st.heap, st.loaded, st.informers = int64(heap), int(active+suspended), int(informers)
		cached, err := promtext.SumBy(page, "wasm_apiserver_cached_objects", []string{"resource", "namespace"})
		if err != nil {
			return fmt.Errorf("%s: %w", st.id, err)
		}
		st.scopes = scopes(cached)
	}
	return nil
}

// scopes describes the informers of a replica from the objects each caches,
// keyed by "resource namespace" (namespace empty for every namespace).
func scopes(cached map[string]float64) []string {
	out := make([]string, 0, len(cached))
	for key, objects := range cached {
		resource, ns, _ := strings.Cut(key, " ")
		where := "all namespaces"
		if ns != "" {
			where = ns
		}
		out = append(out, fmt.Sprintf("%s (%s): %.0f", resource, where, objects))
	}
	slices.Sort(out)
	return out
}
