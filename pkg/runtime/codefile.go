package runtime

import (
	"context"
	"errors"
	"sync"

	"github.com/tetratelabs/wazero"
)

// A module's compiled code is wazero's executable memory: anonymous pages
// that only closing the module frees, ~6 bytes per byte of the module's
// code (14.5 MiB for a small Go guest), resident for as long as the module
// is loaded, although a suspended guest runs none of it. Where the runtime
// has a CacheDir on a disk, the code is made file-backed when the server
// is quiet (ReleaseCodePages): its bytes are written to an unlinked file
// there, which is mapped over the same addresses, private, read and
// execute. wazero's pointers into it stay valid and nothing it runs
// changes; but the pages are now the file's, clean, so the release can drop
// them from the process, and the next wake maps back from the page cache
// what it runs, a minor page fault each, instead of reloading the module
// (~40 ms). The kernel may reclaim the file's pages in the page cache under
// pressure, as it does a binary's; the disk holds them until the module is
// closed, when wazero unmaps them and the unlinked file goes. The budget
// does the same for one module when it drops its code (dropCompiledCode,
// evictLocked). Nothing is written on the way to a wake: a module compiled
// or reloaded costs what it did, a drop a wake asks for runs beside it, and
// a module closed before the server is next quiet or the budget needs its
// room is never written.
//
// Which pages are the module's is read off /proc/self/maps: the largest run
// of executable anonymous memory that appeared while wazero compiled it.
// codeMappingMu keeps any other executable memory from appearing then: it
// is held around everything in this package that has wazero map code
// (compiling modules, instantiating host modules), in every Runtime of the
// process. Nothing else in the server maps executable memory. Code that
// takes the very addresses of another module's code, unmapped by the
// garbage collector while this one compiled, cannot be told from it: it
// stays anonymous, as all code did before, until it is compiled again.

// codeMappingMu is held while wazero may map executable memory, so that
// what appears in that time is known to be the code being compiled.
var codeMappingMu sync.Mutex

// mappingCode runs f, which may have wazero map executable memory, with
// codeMappingMu held.
func mappingCode(f func() error) error {
	codeMappingMu.Lock()
	defer codeMappingMu.Unlock()
	return f()
}

// codeFile is the compiled code of a module of owner, [start, end), and
// once mapped from a file in owner's CacheDir, that file's device
// major:minor and inode ino (0 before).
type codeFile struct {
	start, end   uintptr
	major, minor uint32
	ino          uint64
	owner        *Runtime
}

// backed reports whether cf is mapped from its file.
func (cf *codeFile) backed() bool { return cf.ino != 0 }

// The code files of modules compiled and not yet closed, by the compiled
// module they belong to. A range is listed only while its module is not
// closed: wazero unmaps the code after Close (when the garbage collector
// finalizes it), and the range could then be anything else's.
var (
	codeFilesMu sync.Mutex
	codeFiles   = map[wazero.CompiledModule]*codeFile{}
)

// noteCode lists the code of compiled, the run span that appeared while it
// compiled, to be made file-backed in r's CacheDir when the server is quiet
// or the budget drops it. Its caller compiles with r.codeFiles set; it does
// nothing when the span is empty or small.
func (r *Runtime) noteCode(compiled wazero.CompiledModule, span codeSpan) {
	if span.end-span.start < minCodeFileBytes {
		return
	}
	codeFilesMu.Lock()
	codeFiles[compiled] = &codeFile{start: span.start, end: span.end, owner: r}
	codeFilesMu.Unlock()
}

// listedCodeBytes returns the size of compiled's code when it is listed to
// be made file-backed, 0 when it is not.
func listedCodeBytes(compiled wazero.CompiledModule) int64 {
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	if cf := codeFiles[compiled]; cf != nil {
		return int64(cf.end - cf.start)
	}
	return 0
}

// dropCompiledCode drops the resident pages of compiled's code, as
// ReleaseCodePages does for every module's: code not mapped from a file
// yet is first written to one and mapped. It checks the code's mapping
// against /proc/self/maps, not smaps, whose reading costs milliseconds in
// a server of many guests (releaseCodeFilesLocked), and returns the size
// of the code whose pages it dropped, resident or not.
//
// # Errors
//
// When the code is not listed, or no longer is after the release, which
// forgets code it cannot write to a file or whose mapping is not what was
// listed; when /proc/self is unreadable or madvise refuses, after which
// the code is forgotten too. Code forgotten stays as it is, anonymous or
// mapped from its file, until its module is closed.
func dropCompiledCode(compiled wazero.CompiledModule) (int64, error) {
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	cf := codeFiles[compiled]
	if cf == nil {
		return 0, errors.New("the module's code is not listed to be mapped from a file")
	}
	released, err := releaseCodeFilesLocked(map[wazero.CompiledModule]*codeFile{compiled: cf}, false)
	if err != nil {
		delete(codeFiles, compiled)
		return released, err
	}
	if codeFiles[compiled] == nil {
		return released, errors.New("the module's code could not be mapped from a file")
	}
	return released, nil
}

// closeCompiled closes compiled, forgetting its code file first.
func closeCompiled(ctx context.Context, compiled wazero.CompiledModule) {
	codeFilesMu.Lock()
	delete(codeFiles, compiled)
	codeFilesMu.Unlock()
	_ = compiled.Close(ctx)
}

// forgetCodeFiles forgets the code files of r's modules, before r closes
// them all.
func (r *Runtime) forgetCodeFiles() {
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	for c, cf := range codeFiles {
		if cf.owner == r {
			delete(codeFiles, c)
		}
	}
}

// CodeFileBytes returns the size of the compiled code of r's modules that
// is mapped from files, whose pages ReleaseCodePages drops.
func (r *Runtime) CodeFileBytes() int64 {
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	var n int64
	for _, cf := range codeFiles {
		if cf.owner == r && cf.backed() {
			n += int64(cf.end - cf.start)
		}
	}
	return n
}

// ReleaseCodePages drops the process's resident pages of the compiled code
// of every module, in every Runtime, that it can map from a file, and
// returns how many bytes of it were resident before. Code not yet mapped
// from a file is first written to one and mapped (codeFile). Nothing is
// lost: the pages are the file's, never written, and the next access maps
// them again from the page cache (or reads them from the file). It is
// meant for when the server is quiet, as it drops its executable's pages:
// a guest woken after maps back what it runs, a page fault each.
//
// # Errors
//
// When /proc/self is unreadable or madvise refuses. A module's code that
// cannot be written to a file is logged and left anonymous for good; code
// whose mapping no longer matches what was listed is forgotten, not
// released.
func ReleaseCodePages() (int64, error) {
	codeFilesMu.Lock()
	defer codeFilesMu.Unlock()
	if len(codeFiles) == 0 {
		return 0, nil
	}
	return releaseCodeFilesLocked(codeFiles, true)
}

// minCodeFileBytes is the least code worth a file: smaller runs (wazero's
// shared trampolines, a module's entry preambles) stay anonymous.
const minCodeFileBytes = 1 << 20

// codeSpan is a range of addresses, [start, end).
type codeSpan struct{ start, end uintptr }

// compilingCode runs f, which compiles a module, with codeMappingMu held,
// and, when track is set, returns the largest run of executable anonymous
// memory that appeared meanwhile: the module's code. It is empty when
// track is not set (the process's mappings are not read), when f fails or
// when the mappings cannot be read.
func compilingCode(track bool, f func() error) (codeSpan, error) {
	if !track {
		return codeSpan{}, mappingCode(f)
	}
	codeMappingMu.Lock()
	defer codeMappingMu.Unlock()
	before, berr := executableAnonymous()
	if err := f(); err != nil {
		return codeSpan{}, err
	}
	if berr != nil {
		return codeSpan{}, nil
	}
	after, err := executableAnonymous()
	if err != nil {
		return codeSpan{}, nil
	}
	return largestAdded(before, after), nil
}

// largestAdded returns the largest run of addresses in after (sorted,
// disjoint spans) that is in no span of before (the same).
func largestAdded(before, after []codeSpan) codeSpan {
	var best codeSpan
	i := 0
	for _, a := range after {
		start := a.start
		for start < a.end {
			for i < len(before) && before[i].end <= start {
				i++
			}
			end := a.end
			if i < len(before) && before[i].start <= start {
				start = before[i].end // covered up to there
				continue
			}
			if i < len(before) && before[i].start < end {
				end = before[i].start
			}
			if end-start > best.end-best.start {
				best = codeSpan{start, end}
			}
			start = end
		}
	}
	return best
}
