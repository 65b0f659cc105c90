package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/abi"
)

// Config configures a Runtime.
type Config struct {
	// CacheDir, when set, keeps compiled code on disk so that a restart, or
	// loading a module again after it was evicted, does not recompile.
	CacheDir string
}

// Runtime compiles and runs guests. Each distinct module (by digest) is
// compiled once and shared by every controller that loads it.
type Runtime struct {
	wazero wazero.Runtime
	// keepDataSegments skips merging data segments, for benchmarks.
	keepDataSegments bool

	mu      sync.Mutex
	modules map[string]*Module
}

// New builds a runtime with the host imports of docs/abi.md and WASI.
//
// # Notes
//
//   - Guests are interrupted when their context is done
//     (WithCloseOnContextDone). Without it a guest spinning in a loop would
//     stall the whole host, since Go's stop-the-world GC waits for it; the
//     price is slower guest loops, measured in docs/benchmarks.md.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	return newRuntime(ctx, cfg, true)
}

// newRuntime is New with interruption optional, so that benchmarks can
// measure what it costs. Production code always interrupts.
func newRuntime(ctx context.Context, cfg Config, interruptible bool) (*Runtime, error) {
	rc := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(interruptible)
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("compilation cache[%s]: %w", cfg.CacheDir, err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache[%s]: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	r := &Runtime{wazero: wazero.NewRuntimeWithConfig(ctx, rc), modules: map[string]*Module{}}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wazero); err != nil {
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, r.wazero); err != nil {
		return nil, fmt.Errorf("instantiating host imports: %w", err)
	}
	return r, nil
}

// Close releases everything the runtime holds, closing every instance.
func (r *Runtime) Close(ctx context.Context) error {
	return r.wazero.Close(ctx)
}

// Digest returns the digest modules are identified by: "sha256:<hex>".
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Load compiles wasm, or shares the module already loaded with the same
// digest. Every Load must be paired with a Release of the returned module.
//
// # Errors
//
// An *ABIError when the bytes are not a WebAssembly module for this host;
// other errors when compilation fails.
func (r *Runtime) Load(ctx context.Context, wasm []byte) (*Module, error) {
	digest := Digest(wasm)
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.modules[digest]; ok {
		m.refs++
		return m, nil
	}
	if err := checkMagic(wasm); err != nil {
		return nil, err
	}
	code := wasm
	if !r.keepDataSegments {
		code = mergeDataSegments(wasm)
	}
	compiled, err := r.wazero.CompileModule(ctx, code)
	if err != nil {
		return nil, &ABIError{Reason: "compilation failed: " + err.Error()}
	}
	if err := checkABI(compiled); err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}
	m := &Module{runtime: r, compiled: compiled, Digest: digest, Size: len(wasm), refs: 1}
	r.modules[digest] = m
	return m, nil
}

// LoadedModules returns how many distinct modules are compiled and held.
func (r *Runtime) LoadedModules() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.modules)
}

func (r *Runtime) release(ctx context.Context, m *Module) {
	r.mu.Lock()
	m.refs--
	last := m.refs == 0
	if last {
		delete(r.modules, m.Digest)
	}
	r.mu.Unlock()
	if last {
		_ = m.compiled.Close(ctx)
	}
}

// ABIError says why a module cannot run on this host.
type ABIError struct {
	Reason string
}

func (e *ABIError) Error() string { return e.Reason }

func checkMagic(wasm []byte) error {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return &ABIError{Reason: "not a WebAssembly module: it does not start with the magic bytes \\0asm"}
	}
	return nil
}

func checkABI(m wazero.CompiledModule) error {
	exports := m.ExportedFunctions()
	var versions []string
	for name := range exports {
		if strings.HasPrefix(name, abi.MarkerPrefix) {
			versions = append(versions, strings.TrimPrefix(name, abi.MarkerPrefix))
		}
	}
	supported := fmt.Sprint(ABIVersion)
	found := false
	for _, v := range versions {
		found = found || v == supported
	}
	switch {
	case len(versions) == 0:
		return &ABIError{Reason: "module is not built for wasm-apiserver: it exports no " + abi.MarkerPrefix + "<N> marker (build it with the guest SDK, see docs/abi.md)"}
	case !found:
		return &ABIError{Reason: fmt.Sprintf("module requires ABI v%s; this host supports v%s", strings.Join(versions, ", v"), supported)}
	}
	if _, ok := exports[abi.ReconcileExport]; !ok {
		return &ABIError{Reason: "module exports no reconcile function (docs/abi.md)"}
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		return &ABIError{Reason: "module exports no memory named \"memory\""}
	}
	return nil
}
