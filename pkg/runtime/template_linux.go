package runtime

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// templatePages holds a template's memory in a file written sparsely:
// pages that are zero are holes and cost nothing. The file is one of
// Config.TemplateDir, named template-* there while the template lives and
// held open read-only once written, when the runtime has a directory, so
// that its pages are page cache the kernel can write back and reclaim
// while no instance maps them, as it does a suspended guest's snapshot;
// otherwise an anonymous file (memfd), whose pages stay in memory for as
// long as the template is kept. A memfd is sealed against writes and size
// changes once written, so nothing can change what instances map.
//
// A file is named rather than unlinked at once (O_TMPFILE) because the
// kernel refuses to remount a file system read-only while it holds a file
// open for writing or one unlinked and still open: a template must not
// keep an administrator from making the state directory read-only.
//
// Only the runs of pages that are not zero are mapped from the file; an
// instance's zero pages stay anonymous memory. A write to a hole of a
// private file mapping would fill the hole in the file (charged to the
// template) and copy it, costing two pages and a copy where anonymous
// memory costs one zero page.
type templatePages struct {
	fd int
	// path names the file in Config.TemplateDir, removed by close; empty
	// for a memfd.
	path string
	size uint64
	// runs are the runs of pages mapped, in order.
	runs []pageRun
	// mapped is the bytes of the runs: the pages written, and the holes
	// between them that are mapped with them. It is what the template
	// can come to hold: an instance's read of a hole in a run fills it.
	mapped int64
}

// pageRun is a run of a template's pages: offset and length in bytes.
type pageRun struct{ off, len int }

// templatePage is the unit of a template's sparseness.
const templatePage = 4096

// templateGap is the longest run of zero pages between two runs that are
// not zero that is mapped with them (as holes), saving two system calls
// for each instance.
const templateGap = 4 * templatePage

// maxTemplateRuns bounds the runs a template maps: each is a mapping of
// every instance started from it, and a process has vm.max_map_count
// (65,530 by default) of them. Go guests' initialized memory has a handful.
const maxTemplateRuns = 64

// errTemplateRuns says that a memory's pages that are not zero are
// scattered over more than maxTemplateRuns runs.
var errTemplateRuns = fmt.Errorf("pages scattered over more than %d runs", maxTemplateRuns)

// newTemplatePages copies the pages of mem that are not zero into a new
// file in dir (a memfd when dir is empty), unless their runs are more than
// limit bytes or maxTemplateRuns. A memory that is all zero keeps no file.
func newTemplatePages(dir string, mem []byte, limit int64) (*templatePages, error) {
	if len(mem)%templatePage != 0 {
		return nil, fmt.Errorf("memory of %d bytes is not a whole number of pages", len(mem))
	}
	fd, path, err := createTemplateFile(dir)
	if err != nil {
		return nil, err
	}
	p := &templatePages{fd: fd, path: path, size: uint64(len(mem))}
	if err := p.write(mem, limit); err != nil {
		p.close()
		return nil, err
	}
	if len(p.runs) == 0 {
		p.close()
		return p, nil
	}
	if path == "" {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
		return p, nil
	}
	// Written: held read-only from now on. Private mappings of it may
	// still be written, each to its own copy.
	ro, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		p.close()
		return nil, &StorageError{Op: "template file " + path, Err: err}
	}
	_ = unix.Close(p.fd)
	p.fd = ro
	return p, nil
}

// createTemplateFile returns a new file for a template's pages, open for
// writing: a memfd when dir is empty, else a file of dir named
// template-*, and its path.
func createTemplateFile(dir string) (int, string, error) {
	if dir == "" {
		fd, err := unix.MemfdCreate("wasm-apiserver-template", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			return -1, "", fmt.Errorf("memfd_create: %w", err)
		}
		return fd, "", nil
	}
	f, err := os.CreateTemp(dir, templateFilePrefix+"*")
	if err != nil {
		return -1, "", &StorageError{Op: "template file in " + dir, Err: err}
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(f.Name())
		return -1, "", &StorageError{Op: "template file in " + dir, Err: err}
	}
	return fd, f.Name(), nil
}

// write writes each run of pages of mem that are not zero at its offset,
// and fails once the runs are more than limit bytes or maxTemplateRuns.
func (p *templatePages) write(mem []byte, limit int64) error {
	if err := unix.Ftruncate(p.fd, int64(len(mem))); err != nil {
		return fmt.Errorf("sizing the template: %w", err)
	}
	zero := make([]byte, templatePage)
	for off := 0; off < len(mem); {
		if bytes.Equal(mem[off:off+templatePage], zero) {
			off += templatePage
			continue
		}
		end := off + templatePage
		for end < len(mem) && !bytes.Equal(mem[end:end+templatePage], zero) {
			end += templatePage
		}
		grow := int64(end - off)
		n := len(p.runs)
		joins := n > 0 && off-(p.runs[n-1].off+p.runs[n-1].len) <= templateGap
		if joins {
			grow = int64(end - (p.runs[n-1].off + p.runs[n-1].len))
		}
		if p.mapped+grow > limit {
			return errOverTemplateBudget
		}
		if !joins && n == maxTemplateRuns {
			return errTemplateRuns
		}
		for w := off; w < end; {
			k, err := unix.Pwrite(p.fd, mem[w:end], int64(w))
			if err != nil {
				return fmt.Errorf("writing the template: %w", err)
			}
			w += k
		}
		p.mapped += grow
		if joins {
			p.runs[n-1].len = end - p.runs[n-1].off
		} else {
			p.runs = append(p.runs, pageRun{off: off, len: end - off})
		}
		off = end
	}
	return nil
}

// mapOver makes buf, a whole guest memory inside its own mapping, read as
// the template: the runs of pages that are not zero are mapped from the
// file, private and copy-on-write, and the pages between them are given
// back, to read as zero again. The pages buf had are given back.
func (p *templatePages) mapOver(buf []byte) error {
	if uint64(len(buf)) != p.size {
		return fmt.Errorf("memory of %d bytes for a template of %d", len(buf), p.size)
	}
	zeroed := 0 // buf[:zeroed] is done
	for _, run := range p.runs {
		if err := giveBack(buf[zeroed:run.off]); err != nil {
			return err
		}
		if err := mapRun(p.fd, int64(run.off), buf[run.off:run.off+run.len]); err != nil {
			return err
		}
		zeroed = run.off + run.len
	}
	return giveBack(buf[zeroed:])
}

// runCount returns how many mappings mapOver makes.
func (p *templatePages) runCount() int { return len(p.runs) }

// close closes the file, and removes it from its directory; mappings of
// it stay valid.
func (p *templatePages) close() {
	if p.fd >= 0 {
		_ = unix.Close(p.fd)
		p.fd = -1
	}
	if p.path != "" {
		_ = os.Remove(p.path)
		p.path = ""
	}
}
