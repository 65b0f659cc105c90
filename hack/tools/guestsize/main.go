// Command guestsize reports what guest modules weigh: their size raw and
// gzipped, their code section, and with -compile the native code the
// server's runtime compiles them to, the runtime's estimate of it (what
// --compiled-module-budget is compared with), and the linear memory one
// instance holds after its initialization. With -packages N it lists the N Go packages with
// the most code, read from the module's name section (build without -s).
//
//	go run ./hack/tools/guestsize -compile _output/guests/*.wasm
//	go run ./hack/tools/guestsize -packages 20 guest.wasm
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/go-logr/logr"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

func main() {
	compile := flag.Bool("compile", false, "compile each module and instantiate it once (slow for large modules)")
	packages := flag.Int("packages", 0, "list the N packages with the most code of each module")
	flag.Parse()
	if err := run(context.Background(), flag.Args(), *compile, *packages); err != nil {
		fmt.Fprintln(os.Stderr, "guestsize:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, files []string, compile bool, packages int) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "module\tbytes\tgzipped\tcode section\tcompiled\tbudget estimate\tmemory after init\t")
	for _, file := range files {
		wasm, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		mod, err := parse(wasm)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		compiled, estimate, memory := "-", "-", "-"
		if compile {
			c, err := compiledSize(ctx, wasm)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			compiled, estimate, memory = mb(c.cached), mb(c.estimate), mb(int64(c.memory))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", filepath.Base(file), mb(int64(len(wasm))), mb(gzipped(wasm)),
			mb(int64(mod.codeBytes)), compiled, estimate, memory)
		if packages > 0 {
			defer printPackages(file, mod, packages)
		}
	}
	return w.Flush()
}

// mb formats n bytes in MB (10⁶ bytes) with two decimals.
func mb(n int64) string {
	return fmt.Sprintf("%.2f MB", float64(n)/1e6)
}

// gzipped returns the size of b compressed as `gzip -9` does.
func gzipped(b []byte) int64 {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return int64(buf.Len())
}

// compiled is what loading a module costs.
type compiled struct {
	// cached is the size of the native code in the compilation cache.
	cached int64
	// estimate is the runtime's estimate of the resident compiled code.
	estimate int64
	// memory is an instance's linear memory after its initialization.
	memory uint64
}

// compiledSize loads wasm into a runtime whose compilation cache is a fresh
// directory, and instantiates it once.
func compiledSize(ctx context.Context, wasm []byte) (compiled, error) {
	var c compiled
	dir, err := os.MkdirTemp("", "guestsize")
	if err != nil {
		return c, err
	}
	defer os.RemoveAll(dir)
	r, err := runtime.New(ctx, runtime.Config{CacheDir: dir})
	if err != nil {
		return c, err
	}
	defer r.Close(ctx)
	m, err := r.Load(ctx, wasm)
	if err != nil {
		return c, err
	}
	defer m.Release(ctx)
	c.estimate = r.CompiledBytes()
	inst, err := m.Instantiate(ctx, runtime.InstanceConfig{Name: "guestsize", MemoryLimit: 1 << 30, Logger: logr.Discard()})
	if err != nil {
		return c, err
	}
	c.memory = inst.MemoryBytes()
	inst.Close(ctx)
	// The cache holds the compiled code, and in modules/ the module's bytes.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, filepath.Join(dir, "modules")) {
			return err
		}
		info, err := d.Info()
		if err == nil {
			c.cached += info.Size()
		}
		return err
	})
	return c, err
}

// printPackages prints the packages of mod with the most code.
func printPackages(file string, mod *module, n int) {
	if len(mod.funcNames) == 0 {
		fmt.Printf("\n%s has no name section (built with -s?)\n", filepath.Base(file))
		return
	}
	fmt.Printf("\n%s, code bytes by package:\n", filepath.Base(file))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for _, p := range mod.byPackage()[:min(n, len(mod.byPackage()))] {
		fmt.Fprintf(w, "%10d\t%s\n", p.bytes, p.name)
	}
	_ = w.Flush()
}
