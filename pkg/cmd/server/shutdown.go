package server

import (
	"fmt"
	"time"

	genericapiserver "k8s.io/apiserver/pkg/server"
	cliflag "k8s.io/component-base/cli/flag"
)

// maxGoawayChance is kube-apiserver's bound of --goaway-chance.
const maxGoawayChance = 0.02

// ShutdownOptions are the generic server's options that let replicas
// behind one Service be replaced without failing requests, named as
// kube-apiserver names them.
type ShutdownOptions struct {
	// ShutdownDelay keeps the server serving, with /readyz failing, this
	// long after it is told to stop, so that endpoints and proxies stop
	// sending it requests before it stops accepting them.
	ShutdownDelay time.Duration
	// WatchTerminationGrace is how long the server, once it no longer
	// accepts requests, takes to end the watches it serves. 0 leaves them
	// open until the HTTP server's own shutdown timeout (the request
	// timeout, 60s) ends them.
	WatchTerminationGrace time.Duration
	// GoawayChance is the fraction of HTTP/2 requests answered with a
	// GOAWAY, so that long-lived connections, such as the aggregator's,
	// spread over the replicas.
	GoawayChance float64
}

// NewShutdownOptions returns the generic server's defaults: no delay, no
// GOAWAY.
func NewShutdownOptions() *ShutdownOptions {
	return &ShutdownOptions{}
}

// AddFlags adds the flags to fss, in the group "graceful shutdown".
func (o *ShutdownOptions) AddFlags(fss *cliflag.NamedFlagSets) {
	fs := fss.FlagSet("graceful shutdown")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay-duration", o.ShutdownDelay,
		"How long the server goes on serving after SIGTERM, with /readyz failing, before it stops accepting "+
			"requests, so that the Service's endpoints and the aggregator stop sending it requests first. The "+
			"WasmControllers stop at once, in parallel. Set it with more replicas than one; the Pod's "+
			"terminationGracePeriodSeconds must exceed it by the time stopping takes.")
	fs.DurationVar(&o.WatchTerminationGrace, "shutdown-watch-termination-grace-period", o.WatchTerminationGrace,
		"How long the server, once it no longer accepts requests, takes to end the watches it serves (the "+
			"aggregator's and kube-controller-manager's watches of WasmControllers), so that their clients watch "+
			"again elsewhere. 0 leaves them open, and the process running, until the request timeout (60s) ends them.")
	fs.Float64Var(&o.GoawayChance, "goaway-chance", o.GoawayChance,
		"Fraction of HTTP/2 requests answered with a GOAWAY, so that a client's long-lived connection, such as "+
			"the aggregator's through the Service, moves to another replica now and then. 0 (off) to 0.02; "+
			"0.001 is a start with several replicas; leave it off with one.")
}

// Validate reports values out of range.
func (o *ShutdownOptions) Validate() []error {
	var errs []error
	if o.ShutdownDelay < 0 {
		errs = append(errs, fmt.Errorf("--shutdown-delay-duration must not be negative, got %v", o.ShutdownDelay))
	}
	if o.WatchTerminationGrace < 0 {
		errs = append(errs, fmt.Errorf("--shutdown-watch-termination-grace-period must not be negative, got %v", o.WatchTerminationGrace))
	}
	if o.GoawayChance < 0 || o.GoawayChance > maxGoawayChance {
		errs = append(errs, fmt.Errorf("--goaway-chance must be between 0 and %v, got %v", maxGoawayChance, o.GoawayChance))
	}
	return errs
}

// ApplyTo sets the options on the generic server's configuration.
func (o *ShutdownOptions) ApplyTo(c *genericapiserver.Config) {
	c.ShutdownDelayDuration = o.ShutdownDelay
	c.ShutdownWatchTerminationGracePeriod = o.WatchTerminationGrace
	c.GoawayChance = o.GoawayChance
}
