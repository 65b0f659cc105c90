package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/cmd/server"
)

// runUntilExit runs the server on stateDir, expecting it to refuse to start,
// and returns its error.
func runUntilExit(t *testing.T, stateDir string) error {
	t.Helper()
	o, _ := completedOptions(t, stateDir)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return server.Run(ctx, o)
}

func TestLostEtcdDataRefusesToStart(t *testing.T) {
	state := t.TempDir()
	startServer(t, state).stop(t)
	snapshot := filepath.Join(state, "snapshots", "team-a", "c", "snapshot")
	if err := os.MkdirAll(filepath.Dir(snapshot), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapshot, []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(state, "etcd")); err != nil {
		t.Fatal(err)
	}

	err := runUntilExit(t, state)
	if err == nil {
		t.Fatal("the server started with its etcd data removed")
	}
	for _, want := range []string{state, "missing", "restore", "--embedded-etcd-start-fresh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(snapshot); err != nil {
		t.Errorf("snapshot gone after the refusal: %v", err)
	}

	startServer(t, state, func(o *server.Options) { o.EmbeddedEtcdStartFresh = true }).stop(t)
	// The fresh start is recorded: the next start needs no flag.
	startServer(t, state).stop(t)
}

func TestDamagedEtcdDatabaseRefusesToStart(t *testing.T) {
	state := t.TempDir()
	startServer(t, state).stop(t)
	db := filepath.Join(state, "etcd", "member", "snap", "db")
	if err := os.Truncate(db, 4096); err != nil {
		t.Fatal(err)
	}
	err := runUntilExit(t, state)
	if err == nil || !strings.Contains(err.Error(), db) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("start on a truncated database = %v, want an error naming %s and how to restore", err, db)
	}
}
