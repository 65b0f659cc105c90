package sharding

import (
	"fmt"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
)

// Defaults chosen so that the controllers of a replica that dies are started
// elsewhere within LeaseDuration + RenewInterval (10 s) plus the watch
// latency, under the 15 s of client-go's leader election defaults, while a
// replica that cannot renew has LeaseDuration - RenewDeadline (3 s) to stop
// its controllers before anyone may start them. docs/RATIONALE.md derives
// both bounds.
const (
	// DefaultGroup is the default Options.Group.
	DefaultGroup = "wasm-apiserver"
	// DefaultLeaseDuration is the default Options.LeaseDuration.
	DefaultLeaseDuration = 8 * time.Second
	// DefaultRenewInterval is the default Options.RenewInterval.
	DefaultRenewInterval = 2 * time.Second
	// DefaultRenewDeadline is the default Options.RenewDeadline.
	DefaultRenewDeadline = 5 * time.Second
)

// Options configure a Membership.
type Options struct {
	// Namespace holds the replicas' Leases. The replica needs get, list,
	// watch, create, update and delete on leases there, and nobody else
	// should have more than read access: whoever writes these Leases
	// decides where controllers run.
	Namespace string
	// Group names the set of replicas that share controllers: it prefixes
	// every Lease's name and is the value of the GroupLabel. Default
	// DefaultGroup.
	Group string
	// Identity is this replica's id, unique among the replicas of the group
	// (the Pod name): a DNS-1123 label. Controllers are assigned to ids.
	Identity string

	// LeaseDuration is how long the others wait, after they last saw this
	// replica's Lease change, before they take its controllers.
	LeaseDuration time.Duration
	// RenewInterval is how often the replica writes its Lease.
	RenewInterval time.Duration
	// RenewDeadline is how long the replica keeps its controllers while it
	// cannot write its Lease; then it calls OnFenced. It must leave the
	// time OnFenced takes to stop them before LeaseDuration runs out.
	RenewDeadline time.Duration

	// OnFenced is called, on the goroutine of Run, when the replica could
	// not renew its Lease for RenewDeadline or saw it deleted or taken:
	// it must stop every controller before it returns, because others may
	// start them once LeaseDuration has passed. Optional.
	OnFenced func()

	// Clock measures every duration above; default the real clock.
	Clock clock.WithTicker
}

// complete fills in the defaults.
func (o Options) complete() Options {
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewInterval == 0 {
		o.RenewInterval = DefaultRenewInterval
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.OnFenced == nil {
		o.OnFenced = func() {}
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

// validate reports every invalid option.
func (o Options) validate() error {
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, fmt.Errorf("namespace is required"))
	}
	for _, msg := range validation.IsDNS1123Label(o.Identity) {
		errs = append(errs, fmt.Errorf("identity[%q]: %s", o.Identity, msg))
	}
	if name := leaseName(o.Group, o.Identity); len(validation.IsDNS1123Subdomain(name)) > 0 {
		errs = append(errs, fmt.Errorf("lease name[%q] is not a DNS-1123 subdomain", name))
	}
	if o.RenewInterval <= 0 {
		errs = append(errs, fmt.Errorf("renew interval[%v] must be positive", o.RenewInterval))
	}
	if o.RenewDeadline <= o.RenewInterval {
		errs = append(errs, fmt.Errorf("renew deadline[%v] must be longer than the renew interval[%v]", o.RenewDeadline, o.RenewInterval))
	}
	if o.LeaseDuration <= o.RenewDeadline {
		errs = append(errs, fmt.Errorf("lease duration[%v] must be longer than the renew deadline[%v]", o.LeaseDuration, o.RenewDeadline))
	}
	if o.LeaseDuration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("lease duration[%v] must be whole seconds", o.LeaseDuration))
	}
	return utilerrors.NewAggregate(errs)
}

// Validate reports every invalid option, once the defaults are filled in;
// New checks the same.
func (o Options) Validate() error {
	return o.complete().validate()
}
