package server

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	genericapiserver "k8s.io/apiserver/pkg/server"
)

func TestShutdownOptions(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantDelay  time.Duration
		wantGrace  time.Duration
		wantChance float64
		wantErr    string
	}{
		{name: "defaults: no delay, no GOAWAY", args: nil},
		{name: "every flag", args: []string{"--shutdown-delay-duration=10s", "--shutdown-watch-termination-grace-period=5s",
			"--goaway-chance=0.001"}, wantDelay: 10 * time.Second, wantGrace: 5 * time.Second, wantChance: 0.001},
		{name: "negative watch grace", args: []string{"--shutdown-watch-termination-grace-period=-2s"},
			wantErr: "--shutdown-watch-termination-grace-period must not be negative"},
		{name: "negative delay", args: []string{"--shutdown-delay-duration=-1s"}, wantErr: "--shutdown-delay-duration must not be negative"},
		{name: "chance over kube-apiserver's bound", args: []string{"--goaway-chance=0.5"}, wantErr: "--goaway-chance must be between 0 and 0.02"},
		{name: "negative chance", args: []string{"--goaway-chance=-0.1"}, wantErr: "--goaway-chance must be between 0 and 0.02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			fss := o.Flags()
			if err := fss.FlagSet("graceful shutdown").Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			errs := o.Shutdown.Validate()
			if tt.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr) {
					t.Fatalf("Validate = %v, want one error with %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("Validate: %v", errs)
			}
			// ApplyTo sets all three fields, flags given or not; unset, the
			// options' defaults (no delay, no watch grace, no GOAWAY) apply.
			cfg := genericapiserver.NewConfig(serializer.CodecFactory{})
			o.Shutdown.ApplyTo(cfg)
			if cfg.ShutdownDelayDuration != tt.wantDelay || cfg.ShutdownWatchTerminationGracePeriod != tt.wantGrace ||
				cfg.GoawayChance != tt.wantChance {
				t.Errorf("config: delay %v, watch grace %v, GOAWAY chance %v; want %v, %v, %v",
					cfg.ShutdownDelayDuration, cfg.ShutdownWatchTerminationGracePeriod, cfg.GoawayChance,
					tt.wantDelay, tt.wantGrace, tt.wantChance)
			}
		})
	}
}
