// Command benchsystem measures wasm-apiserver against native controllers on
// a real cluster, side by side in one run: it starts kube-apiserver and
// etcd with hack/cluster-up.sh, runs N copies of examples/configmap-replicator
// as WasmControllers in one wasm-apiserver, then the same N controllers as
// native client-go processes (test/benchsystem/native-replicator), and
// compares their memory and their watches on kube-apiserver. It stops
// everything it started, prints a markdown table and writes it at the end
// of docs/benchmarks.md.
//
//	make bench-system                  # N = 10 and 100
//	BENCH_SYSTEM_N=10 make bench-system
//	BENCH_SYSTEM_N=10,100,1000 make bench-system
//
// The native side runs only up to BENCH_SYSTEM_NATIVE_MAX (default 100)
// processes: 1,000 client-go processes take about 6 GiB of PSS and 28 GiB
// of summed RSS, more than the machines this runs on have to spare.
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

func main() {
	var (
		root    = flag.String("root", ".", "root of the repository")
		ns      = flag.String("n", envOr("BENCH_SYSTEM_N", "10,100"), "comma-separated numbers of controllers")
		docs    = flag.String("docs", "docs/benchmarks.md", "file whose last section receives the results (empty: none)")
		timeout = flag.Duration("timeout", 45*time.Minute, "bound of the whole run")
		nmax    = flag.Int("native-max", envInt("BENCH_SYSTEM_NATIVE_MAX", 100), "largest N for which the native processes run")
		keep    = flag.Bool("keep", false, "keep the work directory (logs, state) after the run")
	)
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benchsystem: bad n %q\n", s)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	err := run(ctx, *root, counts, *docs, *nmax, *keep)
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

func run(ctx context.Context, root string, counts []int, docs string, nativeMax int, keep bool) (err error) {
	root, err = filepath.Abs(root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-system-")
	if err != nil {
		return err
	}
	defer func() {
		if keep || err != nil {
			logf("logs and state kept in %s", work)
			return
		}
		_ = os.RemoveAll(work)
	}()
	bin := filepath.Join(work, "bin")

	logf("building wasm-apiserver, the guest and the native controller")
	if err := build(ctx, root, bin); err != nil {
		return err
	}

	logf("starting the cluster (hack/cluster-up.sh)")
	c, err := startCluster(ctx, root, filepath.Join(work, "cluster"))
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
	b := &bench{root: root, work: work, bin: bin, cluster: c, nativeMax: nativeMax}
	if err := b.setUp(ctx); err != nil {
		return err
	}
	var results []result
	for _, n := range counts {
		r, err := b.measure(ctx, n)
		if err != nil {
			return fmt.Errorf("n[%d]: %w", n, err)
		}
		results = append(results, r)
	}
	report := renderReport(results, counts)
	fmt.Println(report)
	if docs != "" {
		if err := writeSection(filepath.Join(root, docs), report); err != nil {
			return err
		}
		logf("wrote the results to %s", docs)
	}
	return nil
}

// build builds the three programs into bin; the guest goes where
// test/guests/build.sh puts it.
func build(ctx context.Context, root, bin string) error {
	if err := runCmd(ctx, nil, "go", "build", "-C", root, "-o", filepath.Join(bin, "wasm-apiserver"), "./cmd/wasm-apiserver"); err != nil {
		return err
	}
	if err := runCmd(ctx, []string{"GOOS=linux", "GOARCH=amd64"}, "go", "build", "-C", root, "-o",
		filepath.Join(bin, "native-replicator"), "./test/benchsystem/native-replicator"); err != nil {
		return err
	}
	return runCmd(ctx, nil, filepath.Join(root, "test", "guests", "build.sh"), "configmap-replicator")
}
