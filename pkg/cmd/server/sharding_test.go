package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

func TestShardingOptions(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		hostname string
		want     *sharding.Options
		wantErr  string
	}{
		{name: "off by default", args: nil, want: nil},
		{name: "identity from the host name", args: []string{"--sharding"}, hostname: "Wasm-APIServer-0.example.org",
			want: &sharding.Options{Namespace: "wasm-system", Group: "wasm-apiserver", Identity: "wasm-apiserver-0",
				LeaseDuration: 8 * time.Second, RenewDeadline: 5 * time.Second, RenewInterval: 2 * time.Second}},
		{name: "every flag", args: []string{"--sharding", "--sharding-group=edge", "--sharding-identity=r1",
			"--sharding-lease-namespace=ops", "--sharding-lease-duration=20s", "--sharding-renew-deadline=12s",
			"--sharding-retry-period=3s"},
			want: &sharding.Options{Namespace: "ops", Group: "edge", Identity: "r1",
				LeaseDuration: 20 * time.Second, RenewDeadline: 12 * time.Second, RenewInterval: 3 * time.Second}},
		{name: "renew deadline not under the lease duration", args: []string{"--sharding", "--sharding-identity=r1",
			"--sharding-lease-duration=5s"}, wantErr: "lease duration[5s] must be longer than the renew deadline[5s]"},
		{name: "identity not a label", args: []string{"--sharding", "--sharding-identity=R_1"}, wantErr: `identity["R_1"]`},
		{name: "no host name", args: []string{"--sharding"}, wantErr: "--sharding-identity is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			o.Sharding.hostname = func() (string, error) {
				if tt.hostname == "" {
					return "", errors.New("no host name")
				}
				return tt.hostname, nil
			}
			fss := o.Flags()
			fs := fss.FlagSet("sharding")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			errs := o.Sharding.Validate()
			if tt.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.wantErr) {
					t.Fatalf("Validate = %v, want an error with %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("Validate: %v", errs)
			}
			got, err := o.Sharding.Options()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Options (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOptions_ShardingNeedsSharedEtcd: replicas that share controllers must
// share their storage, so --sharding with the embedded etcd is refused.
func TestOptions_ShardingNeedsSharedEtcd(t *testing.T) {
	for _, etcd := range []string{"", "http://127.0.0.1:2379"} {
		o := NewOptions()
		o.Sharding.Enabled, o.Sharding.Identity = true, "r1"
		if etcd != "" {
			o.Recommended.Etcd.StorageConfig.Transport.ServerList = []string{etcd}
		}
		if err := o.Complete(); err != nil {
			t.Fatal(err)
		}
		err := o.Validate()
		refused := err != nil && strings.Contains(err.Error(), "--sharding needs --etcd-servers")
		if refused != (etcd == "") {
			t.Errorf("etcd %q: Validate = %v; want refused only with the embedded etcd", etcd, err)
		}
	}
}
