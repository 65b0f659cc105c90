package server

import (
	"fmt"
	"os"
	"strings"
	"time"

	cliflag "k8s.io/component-base/cli/flag"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// ShardingOptions spread the WasmControllers over the replicas of the
// server, named after kube-controller-manager's --leader-elect flags.
type ShardingOptions struct {
	// Enabled runs only the controllers this replica owns.
	Enabled bool
	// Group names the replicas that share the controllers.
	Group string
	// Identity is this replica's id; empty means the host name (the Pod
	// name in a Pod).
	Identity string
	// LeaseNamespace holds the replicas' Leases.
	LeaseNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod are those of
	// sharding.Options: LeaseDuration, RenewDeadline, RenewInterval.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// hostname returns the host name; os.Hostname but in tests.
	hostname func() (string, error)
}

// NewShardingOptions returns sharding off, with the defaults of package
// sharding.
func NewShardingOptions() *ShardingOptions {
	return &ShardingOptions{
		Group:          sharding.DefaultGroup,
		LeaseNamespace: "wasm-system",
		LeaseDuration:  sharding.DefaultLeaseDuration,
		RenewDeadline:  sharding.DefaultRenewDeadline,
		RetryPeriod:    sharding.DefaultRenewInterval,
		hostname:       os.Hostname,
	}
}

// AddFlags adds the sharding flags to fss, in a group of their own.
func (o *ShardingOptions) AddFlags(fss *cliflag.NamedFlagSets) {
	fs := fss.FlagSet("sharding")
	fs.BoolVar(&o.Enabled, "sharding", o.Enabled,
		"Share the WasmControllers with the other replicas of --sharding-group: each replica holds a Lease in the "+
			"target cluster and runs only the controllers assigned to it by rendezvous hashing over the live replicas; "+
			"status.owner names it. Needs the target cluster (--kubeconfig) and, for the API, an etcd every replica "+
			"shares (--etcd-servers).")
	fs.StringVar(&o.Group, "sharding-group", o.Group,
		"Name of the set of replicas that share the WasmControllers: it prefixes their Leases' names and labels them.")
	fs.StringVar(&o.Identity, "sharding-identity", o.Identity,
		"This replica's id, unique in its group, a DNS-1123 label. Default: the host name, which is the Pod's name "+
			"in a Pod.")
	fs.StringVar(&o.LeaseNamespace, "sharding-lease-namespace", o.LeaseNamespace,
		"Namespace of the replicas' Leases in the target cluster.")
	fs.DurationVar(&o.LeaseDuration, "sharding-lease-duration", o.LeaseDuration,
		"How long the other replicas wait, after a replica's Lease last changed, before they take its controllers "+
			"(whole seconds). Longer: slower failover, more tolerance of a slow API server.")
	fs.DurationVar(&o.RenewDeadline, "sharding-renew-deadline", o.RenewDeadline,
		"How long a replica that cannot renew its Lease keeps its controllers before it stops them all. Must be "+
			"shorter than --sharding-lease-duration by the time stopping them takes.")
	fs.DurationVar(&o.RetryPeriod, "sharding-retry-period", o.RetryPeriod,
		"How often a replica renews its Lease: one write per replica per period to the target cluster. Must be "+
			"shorter than --sharding-renew-deadline.")
}

// Options returns the options of package sharding, or nil when sharding
// is off.
func (o *ShardingOptions) Options() (*sharding.Options, error) {
	if !o.Enabled {
		return nil, nil
	}
	id := o.Identity
	if id == "" {
		name, err := o.hostname()
		if err != nil {
			return nil, fmt.Errorf("--sharding-identity is not set and the host name is unknown: %w", err)
		}
		// A host name may be a fully qualified one; a Pod's is a label.
		id, _, _ = strings.Cut(strings.ToLower(name), ".")
	}
	return &sharding.Options{Namespace: o.LeaseNamespace, Group: o.Group, Identity: id,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RenewInterval: o.RetryPeriod}, nil
}

// Validate reports every problem with the sharding flags.
func (o *ShardingOptions) Validate() []error {
	opts, err := o.Options()
	if err != nil {
		return []error{err}
	}
	if opts == nil {
		return nil
	}
	if err := opts.Validate(); err != nil {
		return []error{fmt.Errorf("--sharding-*: %w", err)}
	}
	return nil
}
