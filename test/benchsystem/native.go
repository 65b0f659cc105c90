package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// measureNative runs n processes of one native-replicator executable, which
// share its text pages.
func (b *bench) measureNative(ctx context.Context, r *result) error {
	bin := filepath.Join(b.bin, "native-replicator")
	logf("n=%d: starting %d native controllers", r.n, r.n)
	return b.measureNativeSide(ctx, r.n, &r.native, &r.nativeLat, "native", func(int) string { return bin })
}

// measureNativeDistinct runs n processes of n native-replicator
// executables, one each: the same controller as n different programs,
// whose text pages no two share, as n distinct modules share no compiled
// code.
func (b *bench) measureNativeDistinct(ctx context.Context, r *result) error {
	n := r.n
	dir := filepath.Join(b.work, "native-distinct")
	logf("n=%d: making %d distinct native executables", n, n)
	bins, err := distinctExecutables(filepath.Join(b.bin, "native-replicator"), dir, n)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("n=%d: starting %d native controllers, distinct executables", n, n)
	return b.measureNativeSide(ctx, n, &r.nativeDistinct, &r.nativeDistinctLat, "native-distinct", func(i int) string { return bins[i] })
}

// distinctExecutables writes n copies of the executable bin into dir, copy
// i with a trailer of its own after the ELF image: n files of different
// content, so that neither the page cache nor a file system that shares
// equal blocks gives two of them the same pages, and the same program,
// since the kernel maps only what the program headers name.
func distinctExecutables(bin, dir string, n int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	image, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	paths := make([]string, n)
	for i := range n {
		paths[i] = filepath.Join(dir, "native-replicator-"+strconv.Itoa(i))
		f, err := os.OpenFile(paths[i], os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return nil, err
		}
		_, err = f.Write(image)
		if err == nil {
			_, err = io.WriteString(f, "\nbench-variant-"+strconv.Itoa(i)+"\n")
		}
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return nil, fmt.Errorf("executable[%d]: %w", i, err)
		}
	}
	return paths, nil
}

// measureNativeSide runs n native controllers, controller i from the
// executable binOf(i), into s and lat: memory idle and busy, latency.
func (b *bench) measureNativeSide(ctx context.Context, n int, s *side, lat *latency, name string, binOf func(i int) string) error {
	c := b.cluster
	watches0, err := b.clearSide(ctx)
	if err != nil {
		return err
	}
	procs := make([]*process, 0, n)
	defer func() { stopAll(procs) }()
	mem := func() (memory, error) {
		var sum memory
		for _, p := range procs {
			if p.exited() {
				return sum, fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.log.Name())
			}
			m, err := readMemory(p.cmd.Process.Pid)
			if err != nil {
				return sum, err
			}
			sum = sum.add(m)
		}
		return sum, nil
	}
	// In batches, each started once the one before made its copies: a
	// thousand client-go programs listing at once on a small machine spend
	// it on retries instead of work.
	start := func() error {
		for i := range n {
			if i > 0 && i%nativeBatch == 0 {
				if err := waitCopies(ctx, c.client, i, timeoutFor(nativeBatch)); err != nil {
					return err
				}
			}
			p, err := startProcess(b.work, name+"-"+strconv.Itoa(i), nil, binOf(i),
				"--kubeconfig="+c.env["KUBECONFIG"],
				"--namespaces="+srcNamespace+","+dstNamespace,
				"--namespace-selector="+targetLabel+"=true",
				"--source-selector="+setLabel+"="+strconv.Itoa(i),
				"--vmodule=controller=4")
			if err != nil {
				return err
			}
			procs = append(procs, p)
		}
		return nil
	}
	if err := b.startSide(ctx, s, n, watches0, mem, start, func() error { return nil }); err != nil {
		return err
	}
	logf("n=%d: %d native controllers (%s) made their copies in %s", n, n, name, s.ready.Round(time.Millisecond))
	logf("n=%d: latency, native controllers (%s)", n, name)
	if *lat, err = writeToCopy(ctx, c.client, n, latencySamples, func(i int) string { return procs[i].log.Name() }); err != nil {
		return err
	}
	logf("n=%d: busy, native controllers (%s)", n, name)
	return b.runBusy(ctx, s, n, mem)
}

// stopAll stops processes in parallel.
func stopAll(procs []*process) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(30 * time.Second) })
	}
	wg.Wait()
}
