package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"text/tabwriter"
)

// Describe writes the image's digests and sizes and the archives written.
func (b *Built) Describe(out io.Writer, files []string) error {
	digest, err := b.Index.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s@%s\n", b.Ref.Name(), digest)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tMANIFEST\tCOMPRESSED\tUNCOMPRESSED")
	for _, p := range b.Platforms {
		d, err := p.Image.Digest()
		if err != nil {
			return err
		}
		compressed, uncompressed, err := layerSizes(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\n", p.Platform.OS, p.Platform.Architecture, d, mib(compressed), mib(uncompressed))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(out, f)
	}
	return nil
}

// layerSizes adds up the image's layers, as pulled and as unpacked.
func layerSizes(p PlatformImage) (compressed, uncompressed int64, err error) {
	layers, err := p.Image.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		raw, err := readAll(l.Uncompressed)
		if err != nil {
			return 0, 0, err
		}
		compressed += size
		uncompressed += int64(len(raw))
	}
	return compressed, uncompressed, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
