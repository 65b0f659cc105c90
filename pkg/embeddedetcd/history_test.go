package embeddedetcd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckHistory(t *testing.T) {
	tests := []struct {
		name       string
		files      []string // created under the state dir; a trailing / makes a dir
		startFresh bool
		wantErr    []string
	}{
		{name: "first run", files: nil},
		{name: "data present", files: []string{MarkerFile, "etcd/member/", "snapshots/a"}},
		{name: "marker without data", files: []string{MarkerFile},
			wantErr: []string{"etcd/member is missing", MarkerFile, "restore", "--" + StartFreshFlag}},
		{name: "snapshots without data", files: []string{"snapshots/ns/c/1"}, wantErr: []string{"has snapshots"}},
		{name: "modules without data", files: []string{"modules/sha256"}, wantErr: []string{"has modules"}},
		{name: "empty dirs are no evidence", files: []string{"snapshots/", "modules/", "certificates/x"}},
		{name: "empty data dir", files: []string{MarkerFile, "etcd/"}, wantErr: []string{"missing"}},
		{name: "told to start fresh", files: []string{MarkerFile, "snapshots/a"}, startFresh: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			for _, f := range tt.files {
				path := filepath.Join(state, f)
				if strings.HasSuffix(f, "/") {
					mustMkdir(t, path)
					continue
				}
				mustMkdir(t, filepath.Dir(path))
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := checkHistory(state, filepath.Join(state, "etcd"), tt.startFresh)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("checkHistory() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("checkHistory() = nil, want an error")
			}
			for _, want := range append(tt.wantErr, state) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}
