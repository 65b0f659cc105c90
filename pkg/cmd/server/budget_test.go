package server

import (
	"os"
	"path/filepath"
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
