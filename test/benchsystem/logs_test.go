package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReconcileEntry(t *testing.T) {
	log := `I1123 15:04:05.100000   4242 instances.go:24] "Reconciling" wasmController="default/r-1" key="bench-src/src-1" reason="event"
I1123 15:04:05.200000   4242 instances.go:24] "Reconciling" wasmController="default/r-10" key="bench-src/src-10" reason="event"
I1123 15:04:05.300000   4242 other.go:1] "Something" key="bench-src/src-1"
I1123 15:04:05.400000   4242 controller.go:170] "Reconciling" key="bench-src/src-1"
`
	path := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05.000000", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name    string
		key     string
		since   time.Time
		want    time.Time
		wantErr bool
	}{
		{name: "first at or after since", key: "bench-src/src-1", since: at("2026-11-23 15:04:05.000000"), want: at("2026-11-23 15:04:05.100000")},
		{name: "earlier lines skipped", key: "bench-src/src-1", since: at("2026-11-23 15:04:05.150000"), want: at("2026-11-23 15:04:05.400000")},
		{name: "a key is not a prefix of another", key: "bench-src/src-10", since: at("2026-11-23 15:04:05.000000"), want: at("2026-11-23 15:04:05.200000")},
		{name: "none since", key: "bench-src/src-1", since: at("2026-11-23 15:04:06.000000"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reconcileEntry(path, tt.key, tt.since)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Errorf("reconcileEntry = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
