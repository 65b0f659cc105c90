package sdk

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name       string
		env        string
		wantV      int
		wantResync time.Duration
		wantErr    string
	}{
		{name: "unset: defaults", wantV: 0, wantResync: time.Minute},
		{name: "flags", env: " -v=3\t-resync 30s ", wantV: 3, wantResync: 30 * time.Second},
		{name: "unknown flag", env: "-test.paniconexit0", wantErr: "CONTROLLER_FLAGS: flag provided but not defined: -test.paniconexit0"},
		{name: "arguments", env: "-v=1 extra", wantErr: `CONTROLLER_FLAGS: unexpected arguments ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(FlagsEnv, tt.env)
			fs := flag.NewFlagSet("c", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			v := fs.Int("v", 0, "verbosity")
			resync := fs.Duration("resync", time.Minute, "resync period")
			err := ParseFlags(fs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFlags = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *v != tt.wantV || *resync != tt.wantResync {
				t.Errorf("v=%d resync=%v; want %d, %v", *v, *resync, tt.wantV, tt.wantResync)
			}
		})
	}
}
