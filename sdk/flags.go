package sdk

import (
	"fmt"
	"os"
	"strings"
)

// FlagsEnv is the environment variable ParseFlags reads a guest's
// command-line flags from, such as "-v=2 -resync=30s". Set it in the
// WasmController's spec.env.
const FlagsEnv = "CONTROLLER_FLAGS"

// FlagSet is what ParseFlags parses into: a *flag.FlagSet, or a
// *pflag.FlagSet (spf13/pflag, as kubebuilder projects use). The SDK does
// not import package flag, whose command-line FlagSet would add about 75 KB
// to every guest.
type FlagSet interface {
	// Parse parses flags from arguments.
	Parse(arguments []string) error
	// Args returns the arguments left after the flags.
	Args() []string
}

// ParseFlags parses the flags in the environment variable FlagsEnv, split
// at white space, into fs. Call it from init with a FlagSet of the guest's
// own, never flag.CommandLine:
//
//	func init() {
//		fs := flag.NewFlagSet("my-controller", flag.ContinueOnError)
//		klog.InitFlags(fs) // if the guest logs with klog
//		resync := fs.Duration("resync", time.Minute, "...")
//		if err := sdk.ParseFlags(fs); err != nil {
//			panic(err) // the host reports the load as failed, with the message
//		}
//		sdk.Register(...)
//	}
//
// A guest has no command line (its only argument is the WasmController's
// name), and its package's init also runs in `go test`, where os.Args holds
// the test's own flags: flag.Parse in init fails there with "flag provided
// but not defined: -test.paniconexit0". ParseFlags never reads os.Args, so
// `go test` of the package works and sees the flags' defaults.
//
// # Errors
//
// When the flags do not parse, or when arguments follow them.
func ParseFlags(fs FlagSet) error {
	args := strings.Fields(os.Getenv(FlagsEnv))
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", FlagsEnv, err)
	}
	if len(fs.Args()) > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", FlagsEnv, fs.Args())
	}
	return nil
}
