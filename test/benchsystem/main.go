// Command benchsystem measures wasm-apiserver against native controllers on
// a real cluster, side by side in one run: it starts kube-apiserver and etcd
// with hack/cluster-up.sh and, for each N, runs N copies of
// examples/configmap-replicator as WasmControllers in one wasm-apiserver, N
// distinct modules of it in another, N controllers drawn from one bundle of
// ten reconcilers (test/guests/bundle10) in a third, and the same N
// controllers as native client-go processes (test/benchsystem/native-replicator),
// of one executable and of N distinct ones, and the N copies again on three
// wasm-apiserver replicas with --sharding that share the cluster's etcd. It
// measures their memory idle and busy (each replica's, with the controllers
// it owns and the informers it holds), their wake latency, their watches and
// requests on kube-apiserver, then a chain of controllers each woken by the
// one before (test/guests/relay, test/benchsystem/native-relay). It stops
// everything it started, prints a markdown section, writes it at the end of
// docs/benchmarks.md with its plots beside it in docs/, and keeps the
// servers' profiles in _output/bench-system.
//
//	make bench-system                  # N = 10 and 100, a chain of 100
//	BENCH_SYSTEM_N=10 BENCH_SYSTEM_CHAIN=10 make bench-system
//	BENCH_SYSTEM_N=10,100,1000 make bench-system
//
// Bounds, each with its environment variable: the native processes run up
// to BENCH_SYSTEM_NATIVE_MAX (default 1000; 1,000 client-go processes take
// about 10 GiB of RSS), those of distinct executables up to
// BENCH_SYSTEM_NATIVE_DISTINCT_MAX (100; each executable is a file of its
// own in the work directory, and shares no page with the others), the
// distinct modules up to BENCH_SYSTEM_DISTINCT_MAX (1000; each compiles for
// about a second), and busy distinct modules keep the default suspend
// policy up to BENCH_SYSTEM_BUSY_DISTINCT_MAX (100; each active distinct
// module holds its compiled code, about 22 MB) and run with policy
// Immediate beyond it. BENCH_SYSTEM_SIDES
// (copies,distinct,bundle,native,native-distinct,replicas) names the sides
// to run, to measure some of them again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The default bounds of the run; see the package comment.
const (
	defaultNativeMax       = 1000
	defaultDistinctMax     = 1000
	defaultBusyDistinctMax = 100
	// defaultNativeDistinctMax bounds the native processes of distinct
	// executables: each is a file of its own.
	defaultNativeDistinctMax = 100
)

func main() {
	var (
		root    = flag.String("root", ".", "root of the repository")
		ns      = flag.String("n", envOr("BENCH_SYSTEM_N", "10,100"), "comma-separated numbers of controllers")
		docs    = flag.String("docs", "docs/benchmarks.md", "file whose last section receives the results (empty: none)")
		timeout = flag.Duration("timeout", 150*time.Minute, "bound of the whole run")
		keep    = flag.Bool("keep", false, "keep the work directory (logs, state) after the run")
		b       = bench{
			nativeMax:       envInt("BENCH_SYSTEM_NATIVE_MAX", defaultNativeMax),
			distinctMax:     envInt("BENCH_SYSTEM_DISTINCT_MAX", defaultDistinctMax),
			busyDistinctMax: envInt("BENCH_SYSTEM_BUSY_DISTINCT_MAX", defaultBusyDistinctMax),

			nativeDistinctMax: envInt("BENCH_SYSTEM_NATIVE_DISTINCT_MAX", defaultNativeDistinctMax),
		}
		sideList = flag.String("sides", envOr("BENCH_SYSTEM_SIDES", allSides().String()), "comma-separated sides to run: "+allSides().String())
		hops     = flag.Int("chain", envInt("BENCH_SYSTEM_CHAIN", 100), "length of the chain (0: none)")
	)
	flag.IntVar(&b.nativeMax, "native-max", b.nativeMax, "largest N for which the native processes run")
	flag.IntVar(&b.distinctMax, "distinct-max", b.distinctMax, "largest N for which distinct modules run")
	flag.IntVar(&b.nativeDistinctMax, "native-distinct-max", b.nativeDistinctMax, "largest N for which the native processes of distinct executables run")
	flag.IntVar(&b.busyDistinctMax, "busy-distinct-max", b.busyDistinctMax, "largest N for which distinct modules run busy with the default suspend policy (Immediate beyond)")
	flag.Parse()
	var err error
	if b.sides, err = parseSides(*sideList); err != nil {
		fmt.Fprintln(os.Stderr, "benchsystem:", err)
		os.Exit(2)
	}
	var counts []int
	for _, s := range strings.FieldsFunc(*ns, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benchsystem: bad n %q\n", s)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	err = run(ctx, &b, *root, counts, *hops, *docs, *keep)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsystem:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return n
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, b *bench, root string, counts []int, hops int, docs string, keep bool) (err error) {
	if b.root, err = filepath.Abs(root); err != nil {
		return err
	}
	if b.work, err = os.MkdirTemp("", "bench-system-"); err != nil {
		return err
	}
	defer func() {
		if keep || err != nil {
			logf("logs and state kept in %s", b.work)
			return
		}
		_ = os.RemoveAll(b.work)
	}()
	b.bin = filepath.Join(b.work, "bin")
	b.profiles = filepath.Join(b.root, "_output", "bench-system")
	if err := os.MkdirAll(b.profiles, 0o755); err != nil {
		return err
	}

	logf("building wasm-apiserver, the guests and the native controllers")
	if err := build(ctx, b.root, b.bin); err != nil {
		return err
	}
	guests := map[string][]byte{}
	for _, g := range []string{"configmap-replicator", bundleGuest, "relay"} {
		if guests[g], err = os.ReadFile(filepath.Join(b.root, "_output", "guests", g+".wasm")); err != nil {
			return err
		}
	}
	if b.modules, err = startModuleServer(b.work, guests); err != nil {
		return err
	}
	defer b.modules.close()

	logf("starting the cluster (hack/cluster-up.sh)")
	c, err := startCluster(ctx, b.root, filepath.Join(b.work, "cluster"))
	defer func() {
		// A fresh context: the run's may be done, the cluster must stop.
		stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if stopErr := c.stop(stopCtx); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the cluster: %w", stopErr))
		}
		logf("cluster stopped")
	}()
	if err != nil {
		return err
	}
	b.cluster = c
	if err := b.setUp(ctx); err != nil {
		return err
	}
	var results []result
	var chain chainResult
	// Results are written as soon as each side is measured, so that a long
	// run that fails late keeps what it measured.
	write := func() error {
		report, plots := renderReport(results, chain, counts, b)
		if docs == "" {
			fmt.Println(report)
			return nil
		}
		path := filepath.Join(b.root, docs)
		for name, svg := range plots {
			if err := os.WriteFile(filepath.Join(filepath.Dir(path), name), svg, 0o644); err != nil {
				return err
			}
		}
		if err := writeSection(path, report); err != nil {
			return err
		}
		logf("wrote the results so far to %s", docs)
		return nil
	}
	// The chain first: it is short, and the largest N is long.
	if hops > 0 {
		if chain, err = b.measureChain(ctx, hops); err != nil {
			return fmt.Errorf("chain: %w", err)
		}
		if err := write(); err != nil {
			return err
		}
	}
	for _, n := range counts {
		results = append(results, result{n: n})
		if err := b.measure(ctx, &results[len(results)-1], write); err != nil {
			return fmt.Errorf("n[%d]: %w", n, err)
		}
	}
	logf("profiles in %s", b.profiles)
	return nil
}

// build builds the programs into bin; the guests go where
// test/guests/build.sh puts them.
func build(ctx context.Context, root, bin string) error {
	if err := runCmd(ctx, nil, "go", "build", "-C", root, "-o", filepath.Join(bin, "wasm-apiserver"), "./cmd/wasm-apiserver"); err != nil {
		return err
	}
	for _, native := range []string{"native-replicator", "native-relay"} {
		if err := runCmd(ctx, []string{"GOOS=linux", "GOARCH=amd64"}, "go", "build", "-C", root, "-o",
			filepath.Join(bin, native), "./test/benchsystem/"+native); err != nil {
			return err
		}
	}
	return runCmd(ctx, nil, filepath.Join(root, "test", "guests", "build.sh"), "configmap-replicator", bundleGuest, "relay")
}
