package server

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// parseFlags returns options with args parsed by the server's own flags.
func parseFlags(t *testing.T, args ...string) *Options {
	t.Helper()
	o := NewOptions()
	cmd := &cobra.Command{}
	for _, f := range o.Flags().FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatalf("parsing %v: %v", args, err)
	}
	return o
}

func TestCeilingOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    validation.Ceilings
		wantErr []string
	}{
		{
			name: "defaults",
			want: validation.Ceilings{MemoryBytes: 128 << 20, ReconcileTimeout: 5 * time.Minute, MaxConcurrentReconciles: 4, ModuleBytes: 64 << 20},
		},
		{
			name: "set",
			args: []string{"--max-controller-memory=1Gi", "--max-reconcile-timeout=1m", "--max-concurrent-reconciles=2", "--max-module-size=8Mi"},
			want: validation.Ceilings{MemoryBytes: 1 << 30, ReconcileTimeout: time.Minute, MaxConcurrentReconciles: 2, ModuleBytes: 8 << 20},
		},
		{
			name: "at the API's bounds",
			args: []string{"--max-controller-memory=4Gi", "--max-reconcile-timeout=1h", "--max-concurrent-reconciles=64", "--max-module-size=1Gi"},
			want: validation.Ceilings{MemoryBytes: 4 << 30, ReconcileTimeout: time.Hour, MaxConcurrentReconciles: 64, ModuleBytes: 1 << 30},
		},
		{
			name: "deprecated --module-max-bytes",
			args: []string{"--module-max-bytes=1048576"},
			want: validation.Ceilings{MemoryBytes: 128 << 20, ReconcileTimeout: 5 * time.Minute, MaxConcurrentReconciles: 4, ModuleBytes: 1 << 20},
		},
		{
			name: "over the API's bounds, all reported",
			args: []string{"--max-controller-memory=8Gi", "--max-reconcile-timeout=2h", "--max-concurrent-reconciles=65", "--max-module-size=2Gi"},
			wantErr: []string{
				"--max-controller-memory must be between 1Mi and 4Gi, got 8Gi",
				"--max-reconcile-timeout must be positive and at most 1h0m0s, got 2h0m0s",
				"--max-concurrent-reconciles must be between 1 and 64, got 65",
				"--max-module-size must be positive and at most 1Gi, got 2Gi",
			},
		},
		{
			name: "zero and negative",
			args: []string{"--max-controller-memory=0", "--max-reconcile-timeout=-1s", "--max-concurrent-reconciles=0", "--max-module-size=-1"},
			wantErr: []string{
				"--max-controller-memory must be between 1Mi and 4Gi, got 0",
				"--max-reconcile-timeout must be positive and at most 1h0m0s, got -1s",
				"--max-concurrent-reconciles must be between 1 and 64, got 0",
				"--max-module-size must be positive and at most 1Gi, got -1",
			},
		},
		{
			name:    "not quantities",
			args:    []string{"--max-controller-memory=lots", "--max-module-size=64MB!"},
			wantErr: []string{`--max-controller-memory must be a quantity such as 64Mi, got "lots"`, `--max-module-size must be a quantity such as 64Mi, got "64MB!"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parseFlags(t, tt.args...)
			var gotErr []string
			for _, err := range o.Ceilings.Validate() {
				gotErr = append(gotErr, err.Error())
			}
			if len(gotErr) != len(tt.wantErr) {
				t.Fatalf("Validate() = %q, want %q", gotErr, tt.wantErr)
			}
			for i := range gotErr {
				if !strings.HasPrefix(gotErr[i], tt.wantErr[i]) {
					t.Errorf("error %d = %q, want %q", i, gotErr[i], tt.wantErr[i])
				}
			}
			if len(tt.wantErr) > 0 {
				return
			}
			got, err := o.Ceilings.Ceilings()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Ceilings() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOptions_Validate_Ceilings: the ceilings are validated with the other
// options, every problem reported at once.
func TestOptions_Validate_Ceilings(t *testing.T) {
	o := parseFlags(t, "--standalone", "--bind-address=127.0.0.1", "--state-dir="+t.TempDir(),
		"--max-controller-memory=8Gi", "--max-concurrent-reconciles=0", "--max-running-guests=0")
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	err := o.Validate()
	for _, want := range []string{"--max-controller-memory must be between", "--max-concurrent-reconciles must be between",
		"--max-running-guests must be at least 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}

}
