package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompiledBudget: without --compiled-module-budget the budget is half
// the memory the server's cgroup gives it, with cgroup v2 or v1, and 256Mi
// when it has no limit; a set flag is taken as it is.
func TestCompiledBudget(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		flag  string
		want  int64
	}{
		{name: "cgroup v2 limit", files: map[string]string{"memory.max": "536870912\n"}, want: 256 << 20},
		{name: "cgroup v2 without limit", files: map[string]string{"memory.max": "max\n"}, want: 256 << 20},
		{name: "cgroup v1 limit", files: map[string]string{"memory/memory.limit_in_bytes": "1073741824\n"}, want: 512 << 20},
		{name: "cgroup v1 without limit", files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, want: 256 << 20},
		{name: "no cgroup files", want: 256 << 20},
		{name: "garbage", files: map[string]string{"memory.max": "lots"}, want: 256 << 20},
		{name: "flag wins", files: map[string]string{"memory.max": "536870912"}, flag: "1Gi", want: 1 << 30},
		{name: "flag zero is no bound", files: map[string]string{"memory.max": "536870912"}, flag: "0", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := compiledBudget(tt.flag, root)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("budget = %d, want %d", got, tt.want)
			}
		})
	}
	if _, err := compiledBudget("lots", t.TempDir()); err == nil {
		t.Error("a flag that is no quantity was taken")
	}
}

// TestTemplateBudget: without --template-budget templates get an eighth of
// the memory the server's cgroup gives it, at most 64Mi, and 64Mi when it
// has no limit; a set flag is taken as it is, and 0 turns them off.
func TestTemplateBudget(t *testing.T) {
	tests := []struct {
		name  string
		limit string
		flag  string
		want  int64
	}{
		{name: "edge node", limit: "536870912", want: 64 << 20},
		{name: "small limit", limit: "268435456", want: 32 << 20},
		{name: "large limit", limit: "8589934592", want: 64 << 20},
		{name: "no limit", want: 64 << 20},
		{name: "flag wins", limit: "268435456", flag: "128Mi", want: 128 << 20},
		{name: "flag zero turns templates off", flag: "0", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.limit != "" {
				if err := os.WriteFile(filepath.Join(root, "memory.max"), []byte(tt.limit+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := templateBudget(tt.flag, root)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("budget = %d, want %d", got, tt.want)
			}
		})
	}
	if _, err := templateBudget("lots", t.TempDir()); err == nil {
		t.Error("a flag that is no quantity was taken")
	}
}

// TestOptions_Validate_Budgets: a budget flag that is no non-negative
// quantity, or a negative idle time, is refused with the flag's name.
func TestOptions_Validate_Budgets(t *testing.T) {
	o := parseFlags(t, "--standalone", "--bind-address=127.0.0.1", "--state-dir="+t.TempDir(),
		"--compiled-module-budget=-1", "--template-budget=lots", "--compiled-module-idle-unload=-1s")
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	err := o.Validate()
	for _, want := range []string{"--compiled-module-budget must be a non-negative quantity",
		"--template-budget must be a non-negative quantity",
		"--compiled-module-idle-unload must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}
