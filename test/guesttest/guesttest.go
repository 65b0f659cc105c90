// Package guesttest builds the test guests of test/guests (a module of its
// own, which depends on the sdk module and not on the server's) for the tests
// and benchmarks of the server's packages, and makes modules distinct.
package guesttest

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	dirOnce sync.Once
	dir     string
	dirErr  error

	mu    sync.Mutex // serializes builds
	built = map[string][]byte{}
)

// Build returns the bytes of test/guests/<name> built for wasip1 as a
// reactor, building it once per process; it fails tb if it does not build.
func Build(tb testing.TB, name string) []byte {
	tb.Helper()
	wasm, err := TryBuild(name)
	if err != nil {
		tb.Fatal(err)
	}
	return wasm
}

// TryBuild is Build returning its error, for guests that may not build
// everywhere (the client-go guest).
func TryBuild(name string) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	if wasm, ok := built[name]; ok {
		return wasm, nil
	}
	dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "guests") })
	if dirErr != nil {
		return nil, dirErr
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(root, "test", "guests", name)
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building guest %s: %v\n%s", name, err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	built[name] = wasm
	return wasm, nil
}

// repoRoot finds the repository from the working directory, which is a
// package's directory when tests run: the directory above it that holds
// test/guests (a module of its own, which the guests are built in).
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "test", "guests", "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no test/guests/go.mod above %s", wd)
		}
	}
}

// Cleanup removes what Build wrote; call it from TestMain.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// WithCustomSection returns the module with a custom section named name
// appended: a module with another digest and the same code, as a cluster
// with many different controllers has.
func WithCustomSection(wasm []byte, name string) []byte {
	// One byte of data after the name: wazero fails to read an empty
	// custom section at the very end of a module.
	// Sizes are unsigned LEB128, which is what binary.AppendUvarint writes.
	payload := append(binary.AppendUvarint(nil, uint64(len(name))), name...)
	payload = append(payload, 1)
	out := append(append([]byte(nil), wasm...), 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}
