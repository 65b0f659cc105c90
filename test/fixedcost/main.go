// Command fixedcost measures wasm-apiserver's fixed memory cost: the
// memory of a server that runs no controller, idle. It starts each binary
// it is given in turn with its embedded etcd, waits until the server is
// ready and has been idle for a while, and prints the proportional set
// size (PSS) of the process by where its pages come from: the
// executable's code, read-only data and data (split by ELF section), the
// anonymous memory (the Go heap, stacks and the runtime's metadata), etcd's
// database file and other files.
//
//	make bench-fixed-cost
//	go run ./test/fixedcost -bin=/tmp/before -bin=/tmp/after -idle=60s
//	go run ./test/fixedcost -kubeconfig=_output/cluster/admin.kubeconfig
//
// With -kubeconfig the server runs as it does in a cluster: authentication
// and authorization delegated to that cluster, whose informers it keeps,
// and the controllers' host connected to it. Without it the server runs
// with --standalone, as `make run` does with no cluster.
//
// PSS shares a page among the processes that map it: measure a binary no
// other process runs (a copy of its own), or its pages count for less. The
// page cache's state matters too: a binary just written may be held in
// large folios, which the kernel maps whole.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// binaries is a flag that may repeat.
type binaries []string

func (b *binaries) String() string     { return strings.Join(*b, ",") }
func (b *binaries) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	var bins binaries
	flag.Var(&bins, "bin", "server binary to measure; repeat to measure several side by side (default: build ./cmd/wasm-apiserver)")
	var (
		idle       = flag.Duration("idle", 150*time.Second, "how long the server stays idle once ready before it is measured")
		kubeconfig = flag.String("kubeconfig", "", "target cluster to delegate authentication and authorization to (default: --standalone)")
		timeout    = flag.Duration("timeout", 10*time.Minute, "bound of the whole run")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, bins, *idle, *kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "fixedcost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bins []string, idle time.Duration, kubeconfig string) error {
	work, err := os.MkdirTemp("", "fixedcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if len(bins) == 0 {
		bin := filepath.Join(work, "wasm-apiserver")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/wasm-apiserver")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the server: %w", err)
		}
		bins = []string{bin}
	}
	var results []breakdown
	for i, bin := range bins {
		fmt.Fprintf(os.Stderr, "measuring %s (ready, then idle %s)\n", bin, idle)
		b, err := measure(ctx, bin, filepath.Join(work, fmt.Sprintf("state-%d", i)), kubeconfig, idle)
		if err != nil {
			return fmt.Errorf("binary[%s]: %w", bin, err)
		}
		results = append(results, b)
	}
	if len(results) == 0 {
		return errors.New("nothing measured")
	}
	printTable(os.Stdout, bins, results)
	return nil
}
