package embeddedetcd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// startStop runs etcd on the state dir and stops it.
func startStop(t *testing.T, state string, startFresh bool) error {
	t.Helper()
	s, err := Start(context.Background(), Config{StateDir: state, DataDir: filepath.Join(state, "etcd"), StartFresh: startFresh})
	if err == nil {
		s.Close()
	}
	return err
}

func TestStartRefusesLostData(t *testing.T) {
	state := t.TempDir()
	if err := startStop(t, state, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, MarkerFile)); err != nil {
		t.Fatalf("no marker after the first start: %v", err)
	}
	if err := startStop(t, state, false); err != nil {
		t.Fatalf("restart with the data: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(state, "etcd")); err != nil {
		t.Fatal(err)
	}
	err := startStop(t, state, false)
	if err == nil || !strings.Contains(err.Error(), "--"+StartFreshFlag) {
		t.Fatalf("start with the data removed = %v, want the refusal naming --%s", err, StartFreshFlag)
	}
	if err := startStop(t, state, true); err != nil {
		t.Fatalf("start fresh: %v", err)
	}
	if err := startStop(t, state, false); err != nil {
		t.Fatalf("restart after starting fresh: %v", err)
	}
}

func TestCheckData(t *testing.T) {
	good := t.TempDir()
	if err := startStop(t, good, false); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(good, "etcd", "member", "snap", "db"))
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	// etcd grows the file ahead of use: cut it below the pages in use.
	f, err := os.Open(filepath.Join(good, "etcd", "member", "snap", "db"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := readMeta(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	inUse := int(meta.pgid) * int(meta.pageSize)
	garbage := func(b []byte, from, to int) []byte {
		b = append([]byte(nil), b...)
		for i := from; i < to && i < len(b); i++ {
			b[i] = byte(i*7 + 13)
		}
		return b
	}
	tests := []struct {
		name    string
		db      []byte // nil: no db file
		wantErr string
	}{
		{name: "no database", db: nil},
		{name: "good", db: db},
		{name: "empty", db: []byte{}, wantErr: "empty"},
		{name: "truncated", db: db[:inUse-1], wantErr: "cut short"},
		{name: "truncated to a page", db: db[:page], wantErr: "damaged"},
		{name: "overwritten", db: garbage(db, 0, len(db)), wantErr: "damaged"},
		{name: "meta pages overwritten", db: garbage(db, 0, 2*page), wantErr: "meta pages"},
		{name: "data pages overwritten", db: garbage(db, 2*page, len(db)), wantErr: "damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "etcd")
			path := filepath.Join(dataDir, "member", "snap", "db")
			if tt.db != nil {
				mustMkdir(t, filepath.Dir(path))
				if err := os.WriteFile(path, tt.db, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := checkData(dataDir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkData() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("checkData() = nil, want an error")
			}
			for _, want := range []string{tt.wantErr, path, "backup", "--" + StartFreshFlag} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer etcd's goroutines may write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClose_LogsNoErrors: a clean stop logs no error: etcd reports each
// listener it closes under a serving goroutine as a failure, with a stack.
func TestClose_LogsNoErrors(t *testing.T) {
	state := t.TempDir()
	var log lockedBuffer
	for range 3 {
		s, err := Start(t.Context(), Config{StateDir: state, DataDir: filepath.Join(state, "etcd"), logOutput: &log})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if out := log.String(); strings.Contains(out, `"level":"error"`) {
		t.Errorf("etcd logged errors on a clean stop:\n%s", out)
	}
}
