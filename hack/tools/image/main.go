// Command image builds wasm-apiserver's OCI image without a container engine
// and pushes it.
//
//	image build --image REF --version V --revision SHA --source URL --epoch SECONDS \
//	    --platform linux/amd64=BINARY --platform linux/arm64=BINARY --out DIR
//	image push --from DIR/wasm-apiserver.oci.tar --image REF
//
// build writes into DIR an OCI image layout of the multi-platform image as a
// tar (ctr images import, kind load image-archive, k3s ctr images import,
// skopeo, crane) and, for each platform, a Docker archive (docker load). The
// same binaries, metadata and epoch give the same bytes and digests. push
// sends the multi-platform image from the OCI layout tar to a registry, with
// the credentials of the Docker config (docker login).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

const usage = "usage: image build|push [flags] (image <command> -h lists the flags)"

// run runs one command and writes what it made to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:], out)
	case "push":
		return runPush(ctx, args[1:], out)
	default:
		return fmt.Errorf("unknown command %q; %s", args[0], usage)
	}
}

func runBuild(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	var spec Spec
	var platforms platformFlag
	var outDir string
	fs.StringVar(&spec.Ref, "image", "", "reference the image is named by in the archives, such as registry.example.com/wasm-apiserver:v0.1.0")
	fs.StringVar(&spec.Version, "version", "", "version label (org.opencontainers.image.version)")
	fs.StringVar(&spec.Revision, "revision", "", "source revision label (org.opencontainers.image.revision)")
	fs.StringVar(&spec.Source, "source", "", "source repository label (org.opencontainers.image.source)")
	fs.Int64Var(&spec.Epoch, "epoch", -1, "creation time in seconds since 1970 (SOURCE_DATE_EPOCH, the commit's time), also every file's mtime")
	fs.Var(&platforms, "platform", "OS/ARCH=BINARY: a static binary for a platform; repeat for each platform")
	fs.StringVar(&outDir, "out", "", "directory to write the archives into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec.Binaries = platforms
	if outDir == "" {
		return errors.New("build: --out is required")
	}
	built, err := Build(spec)
	if err != nil {
		return err
	}
	files, err := built.WriteArchives(outDir)
	if err != nil {
		return err
	}
	return built.Describe(out, files)
}

func runPush(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	var from, ref string
	fs.StringVar(&from, "from", "", "OCI image layout tar that build wrote")
	fs.StringVar(&ref, "image", "", "reference to push to, such as registry.example.com/wasm-apiserver:v0.1.0")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if from == "" || ref == "" {
		return errors.New("push: --from and --image are required")
	}
	return Push(ctx, from, ref, out)
}

// platformFlag collects --platform OS/ARCH=BINARY in the order given.
type platformFlag []Binary

func (p *platformFlag) String() string {
	parts := make([]string, 0, len(*p))
	for _, b := range *p {
		parts = append(parts, b.OS+"/"+b.Arch+"="+b.Path)
	}
	return strings.Join(parts, ",")
}

func (p *platformFlag) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	goos, arch, ok2 := strings.Cut(platform, "/")
	if !ok || !ok2 || path == "" || goos == "" || arch == "" {
		return fmt.Errorf("platform %q: want OS/ARCH=BINARY, such as linux/arm64=_output/bin/linux_arm64/wasm-apiserver", v)
	}
	*p = append(*p, Binary{OS: goos, Arch: arch, Path: path})
	return nil
}
