package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"k8s.io/klog/v2"
)

// ErrStorage is what every *StorageError is, for errors.Is.
var ErrStorage = errors.New("the server's storage failed")

// StorageError says the server's own storage failed: the compilation cache
// or the module bytes kept in Config.CacheDir could not be read or written.
// It says nothing about the module, which may load once the storage works
// again (space freed, files repaired): callers should retry, never mark the
// module invalid. errors.Is(err, ErrStorage) holds.
type StorageError struct {
	// Op says what the server was doing.
	Op string
	// Err is the underlying failure.
	Err error
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("server storage: %s: %v", e.Op, e.Err)
}

// Unwrap returns the underlying failure.
func (e *StorageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrStorage) hold.
func (e *StorageError) Is(target error) bool { return target == ErrStorage }

// compileCode compiles module bytes, telling a module the compiler refuses
// (an *ABIError) from a compilation cache that fails (a *StorageError).
//
// wazero's errors do not say which of the two failed, so when a cache is
// configured and compiling fails, the bytes are compiled again by a runtime
// without any cache: if that fails too, the module is at fault. Otherwise
// the cache is: compiling once more is enough when only storing the entry
// failed (wazero keeps the code it compiled in memory and finds it there);
// when reading the entry fails (a damaged or unreadable file), the cache's
// entries are discarded so that the module compiles afresh and is cached
// again.
//
// The code compiled is listed to be made file-backed (noteCode) if it can
// be.
func (r *Runtime) compileCode(ctx context.Context, code []byte) (wazero.CompiledModule, error) {
	compiled, err := r.compileCodeOnce(ctx, code)
	if err == nil || (r.cfg.CacheDir == "" && r.cfg.cache == nil) {
		return compiled, err
	}
	if verr := r.compileUncached(ctx, code); verr != nil {
		return nil, verr
	}
	klog.ErrorS(err, "The compilation cache failed a module that compiles without it; compiling again", "cacheDir", r.cfg.CacheDir)
	if compiled, err = r.compileCodeOnce(ctx, code); err == nil {
		return compiled, nil
	}
	if r.cfg.CacheDir != "" {
		if derr := discardCompilationCache(r.cfg.CacheDir); derr != nil {
			klog.ErrorS(derr, "Discarding the damaged compilation cache", "cacheDir", r.cfg.CacheDir)
		}
		if compiled, err = r.compileCodeOnce(ctx, code); err == nil {
			return compiled, nil
		}
	}
	return nil, &StorageError{Op: "compilation cache in " + r.cfg.CacheDir, Err: err}
}

// compileCodeOnce compiles code in r's wazero runtime and lists the code
// compiled to be made file-backed if it can (noteCode).
func (r *Runtime) compileCodeOnce(ctx context.Context, code []byte) (wazero.CompiledModule, error) {
	track := r.codeFiles
	compiled, span, err := r.compileOnce(ctx, r.wazero, code, track)
	if err == nil && track {
		r.noteCode(compiled, span)
	}
	return compiled, err
}

// compileOnce compiles code in w, and when track is set returns the span
// of executable memory that appeared meanwhile (compilingCode); a panic in
// wazero is an *ABIError.
func (r *Runtime) compileOnce(ctx context.Context, w wazero.Runtime, code []byte, track bool) (compiled wazero.CompiledModule, span codeSpan, err error) {
	err = guard("compiling", func() error {
		span, err = compilingCode(track, func() error {
			var err error
			compiled, err = w.CompileModule(ctx, code)
			return err
		})
		if err != nil {
			return &ABIError{Reason: "compilation failed: " + err.Error()}
		}
		return nil
	})
	return compiled, span, err
}

// compileUncached compiles code in a runtime without a cache and returns
// why it cannot, an *ABIError, or nil when it compiles.
func (r *Runtime) compileUncached(ctx context.Context, code []byte) error {
	w := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer func() { _ = w.Close(context.WithoutCancel(ctx)) }()
	compiled, _, err := r.compileOnce(ctx, w, code, false)
	if err != nil {
		return err
	}
	_ = compiled.Close(context.WithoutCancel(ctx))
	return nil
}

// discardCompilationCache removes the entries of wazero's compilation cache
// in dir (its wazero-<version>-<arch>-<os> directories), leaving the
// directories themselves, recreated if something else took their place.
// The module bytes kept in modules/ stay.
func discardCompilationCache(dir string) error {
	dirs, err := filepath.Glob(filepath.Join(dir, "wazero-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && !fi.IsDir() {
			if err := os.Remove(d); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, os.Mkdir(d, 0o700))
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			errs = append(errs, os.RemoveAll(filepath.Join(d, e.Name())))
		}
	}
	klog.InfoS("Discarded the compilation cache", "cacheDir", dir)
	return errors.Join(errs...)
}

// writeKeptFile is writeFileAtomic for a file the runtime keeps in its
// cache dir: when the file's directory is gone (removed while the server
// runs), it is created again, so that loads recover by themselves rather
// than fail until a restart.
func writeKeptFile(path string, write func(*os.File) error) error {
	err := writeFileAtomic(path, write)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			err = writeFileAtomic(path, write)
		}
	}
	return err
}
