package abi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSplitCount(t *testing.T) {
	tests := []struct {
		name      string
		ret       uint32
		wantCount uint32
		wantErrno Errno
	}{
		{name: "zero", ret: 0},
		{name: "a count", ret: 1234, wantCount: 1234},
		{name: "the largest response", ret: MaxResponseBytes, wantCount: MaxResponseBytes},
		{name: "EFAULT", ret: 0xFFFFFFFF, wantErrno: EFAULT},
		{name: "EINVAL", ret: 0xFFFFFFFE, wantErrno: EINVAL},
		{name: "E2BIG", ret: CountErrno(E2BIG), wantErrno: E2BIG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, errno := SplitCount(tt.ret)
			if n != tt.wantCount || errno != tt.wantErrno {
				t.Errorf("SplitCount(%#x) = %d, %v; want %d, %v", tt.ret, n, errno, tt.wantCount, tt.wantErrno)
			}
		})
	}
	if CountErrno(EFAULT) != 0xFFFFFFFF || CountErrno(EINVAL) < MinCountErrno {
		t.Errorf("CountErrno(EFAULT) = %#x, CountErrno(EINVAL) = %#x", CountErrno(EFAULT), CountErrno(EINVAL))
	}
}

// TestHostCalls_SDKImports: the Go SDK imports exactly the host calls the
// ABI names, from the host module; its //go:wasmimport directives cannot
// use the constants, so they are checked against them.
func TestHostCalls_SDKImports(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SDK sources found: %v", err)
	}
	directive := regexp.MustCompile(`(?m)^//go:wasmimport (\S+) (\S+)$`)
	var imported []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range directive.FindAllStringSubmatch(string(src), -1) {
			if m[1] != HostModule {
				t.Errorf("%s imports %s.%s, want import module %s", filepath.Base(f), m[1], m[2], HostModule)
			}
			imported = append(imported, m[2])
		}
	}
	want := HostCalls()
	slices.Sort(imported)
	slices.Sort(want)
	if !slices.Equal(imported, want) {
		t.Errorf("the SDK imports %v, want the host calls %v", imported, want)
	}
}

// TestResponseTooLarge: the answer names the limit the ABI enforces, so the
// message cannot drift from MaxResponseBytes.
func TestResponseTooLarge(t *testing.T) {
	resp := ResponseTooLarge()
	var st struct {
		Kind, Reason, Message string
		Code                  int
	}
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		t.Fatal(err)
	}
	limit := strconv.Itoa(MaxResponseBytes/(1<<20)) + " MiB"
	if resp.Status != 413 || st.Code != 413 || st.Kind != "Status" || st.Reason != "RequestEntityTooLarge" ||
		!strings.Contains(st.Message, limit) {
		t.Errorf("ResponseTooLarge = %d %s; want a 413 Status naming %s", resp.Status, resp.Body, limit)
	}
}
