package server

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/term"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/cmd/module"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/version"
)

// NewCommand returns the wasm-apiserver command, which runs until ctx is done.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "wasm-apiserver",
		Short: "Host Kubernetes controllers compiled to WebAssembly, waking each only when there is work",
		Long: `wasm-apiserver is a Kubernetes aggregated API server for the group controllers.wasm.io.
Each WasmController names a WebAssembly module, the resources it watches and the CEL rules that
decide which events wake it; the server runs the module only when there is work.

With no --etcd-servers it stores its objects in an embedded etcd under --state-dir.
With --standalone it serves on loopback with a generated credential, for trying it out.

Commands:
  module push FILE REF   push a controller's module to an OCI registry
  module digest FILE     print a module's sha256, for spec.module.sha256`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.PrintVersion {
				fmt.Fprintln(cmd.OutOrStdout(), version.Get())
				return nil
			}
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments: %q", args)
			}
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			// Logging is process-wide: applied once, by the command only.
			if err := logsapi.ValidateAndApply(o.Logs, utilfeature.DefaultFeatureGate); err != nil {
				return err
			}
			return Run(cmd.Context(), o)
		},
	}
	cmd.SetContext(ctx)
	cmd.AddCommand(module.NewCommand())

	fss := o.Flags()
	for _, fs := range fss.FlagSets {
		cmd.Flags().AddFlagSet(fs)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}
