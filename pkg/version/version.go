// Package version reports the version wasm-apiserver was built as.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// gitVersion and gitCommit are set at build time with
// -ldflags "-X github.com/wasm-apiserver/wasm-apiserver/pkg/version.gitVersion=...".
var (
	gitVersion = "v0.0.0-dev"
	gitCommit  = ""
)

// Info describes a build.
type Info struct {
	GitVersion string
	GitCommit  string
	GoVersion  string
	Platform   string
}

// Get returns the version of this binary.
func Get() Info {
	commit := gitCommit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	return Info{GitVersion: gitVersion, GitCommit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func (i Info) String() string {
	s := fmt.Sprintf("wasm-apiserver %s (%s, %s)", i.GitVersion, i.GoVersion, i.Platform)
	if i.GitCommit != "" {
		s += " commit " + i.GitCommit
	}
	return s
}
