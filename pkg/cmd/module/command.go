// Package module holds the `wasm-apiserver module` commands, which publish
// controllers' WebAssembly modules.
package module

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/term"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
)

// NewCommand returns the `module` command and its subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "module",
		Short: "Publish WebAssembly modules for WasmControllers",
		Long: `Publish WebAssembly modules for WasmControllers.

  module push FILE REF   push FILE to an OCI registry as a Wasm artifact
  module digest FILE     print the sha256 of FILE, for spec.module.sha256`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE:         func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPushCommand(), newDigestCommand())
	setHelp(cmd, nil)
	return cmd
}

// pushOptions are the flags of `module push`.
type pushOptions struct {
	insecure bool
}

func newPushCommand() *cobra.Command {
	o := &pushOptions{}
	cmd := &cobra.Command{
		Use:   "push FILE REF",
		Short: "Push a WebAssembly module to an OCI registry",
		Long: `Push FILE, a WebAssembly module, to the OCI registry as REF (registry/repository:tag), as a
CNCF TAG Runtime Wasm artifact: a config of type application/vnd.wasm.config.v0+json and one
layer of type application/wasm. Credentials come from the docker config (~/.docker/config.json,
as written by docker login, or $DOCKER_CONFIG) and its credential helpers.

It prints the pushed reference by digest; name it in spec.module.image to pin exactly this module.`,
		Example:      `  wasm-apiserver module push controller.wasm registry.example.com/controllers/replicator:v1`,
		Args:         cobra.ExactArgs(2),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var nameOpts []name.Option
			if o.insecure {
				nameOpts = append(nameOpts, name.Insecure)
			}
			ref, err := name.ParseReference(args[1], nameOpts...)
			if err != nil {
				return fmt.Errorf("reference[%s]: %w", args[1], err)
			}
			digest, err := modules.Push(cmd.Context(), wasm, ref,
				remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("wasm-apiserver"))
			if err != nil {
				return fmt.Errorf("pushing module[%s] to %s: %w", args[0], args[1], err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), digest.String())
			return nil
		},
	}
	fss := cliflag.NamedFlagSets{}
	fs := fss.FlagSet("push")
	fs.BoolVar(&o.insecure, "insecure", false,
		"Speak plain HTTP to the registry. Loopback registries (localhost, 127.0.0.1) always are spoken to over HTTP.")
	cmd.Flags().AddFlagSet(fs)
	setHelp(cmd, &fss)
	return cmd
}

func newDigestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "digest FILE",
		Short: "Print the sha256 of a WebAssembly module, for spec.module.sha256",
		Long: `Print the hex SHA-256 of FILE: the value spec.module.sha256 wants, required with spec.module.url.
The module store and status.moduleDigest name the same module "sha256:<hex>".`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if err := modules.CheckWasm(wasm); err != nil {
				return fmt.Errorf("module[%s]: %w", args[0], err)
			}
			sum := sha256.Sum256(wasm)
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(sum[:]))
			return nil
		},
	}
	setHelp(cmd, &cliflag.NamedFlagSets{})
	return cmd
}

// setHelp gives a subcommand its own help, since the root command's prints
// the server's flags.
func setHelp(cmd *cobra.Command, fss *cliflag.NamedFlagSets) {
	if fss == nil {
		fss = &cliflag.NamedFlagSets{}
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, *fss, cols)
}
