package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// executableMapping is one mapping of the server's executable file, as
// /proc/self/smaps lists it.
type executableMapping struct {
	start, end uintptr
	// writable mappings hold the executable's data; the others its code
	// and read-only data, the same bytes as the file.
	writable bool
	// anonymous is how much of the mapping is a private copy rather than
	// the file's pages, in KiB.
	anonymous int64
	// rss is how much of the mapping is resident, in KiB.
	rss int64
}

// releasable reports whether dropping the mapping's pages loses nothing: it
// only ever holds the file's bytes, which the next access reads again from
// the page cache.
func (m executableMapping) releasable() bool {
	return !m.writable && m.anonymous == 0
}

// fileID names a file as the kernel lists it in smaps: its device
// (major:minor, in hex) and inode.
type fileID struct {
	major, minor uint32
	inode        uint64
}

// parseExecutableMappings returns the mappings of the file id among those
// of smaps, in the format of /proc/<pid>/smaps.
func parseExecutableMappings(smaps io.Reader, id fileID) ([]executableMapping, error) {
	var out []executableMapping
	var cur *executableMapping
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") {
			m, ours, err := parseMappingHeader(fields, id)
			if err != nil {
				return nil, fmt.Errorf("smaps line %q: %w", line, err)
			}
			cur = nil
			if ours {
				out = append(out, m)
				cur = &out[len(out)-1]
			}
			continue
		}
		if cur == nil || len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "Rss:", "Anonymous:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("smaps line %q: %w", line, err)
			}
			if fields[0] == "Rss:" {
				cur.rss = kb
			} else {
				cur.anonymous = kb
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading smaps: %w", err)
	}
	return out, nil
}

// parseMappingHeader parses a mapping's first line, "start-end perms offset
// major:minor inode [path]", and reports whether it maps the file id.
func parseMappingHeader(fields []string, id fileID) (executableMapping, bool, error) {
	if len(fields) < 5 {
		return executableMapping{}, false, fmt.Errorf("want at least 5 fields, got %d", len(fields))
	}
	inode, err := strconv.ParseUint(fields[4], 10, 64)
	if err != nil {
		return executableMapping{}, false, fmt.Errorf("inode: %w", err)
	}
	major, minor, ok := strings.Cut(fields[3], ":")
	if !ok {
		return executableMapping{}, false, fmt.Errorf("device %q", fields[3])
	}
	maj, err1 := strconv.ParseUint(major, 16, 32)
	min, err2 := strconv.ParseUint(minor, 16, 32)
	if err1 != nil || err2 != nil {
		return executableMapping{}, false, fmt.Errorf("device %q", fields[3])
	}
	if inode != id.inode || uint32(maj) != id.major || uint32(min) != id.minor {
		return executableMapping{}, false, nil
	}
	start, end, ok := strings.Cut(fields[0], "-")
	if !ok {
		return executableMapping{}, false, fmt.Errorf("address range %q", fields[0])
	}
	s, err1 := strconv.ParseUint(start, 16, 64)
	e, err2 := strconv.ParseUint(end, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return executableMapping{}, false, fmt.Errorf("address range %q", fields[0])
	}
	perms := fields[1]
	return executableMapping{start: uintptr(s), end: uintptr(e), writable: len(perms) > 1 && perms[1] == 'w'}, true, nil
}

// quietCPUShare is the most CPU time, as a share of one core over the
// period, that the server may have used for a periodic release to happen.
// An idle server uses under 1%; a busy one would only read back at once
// the code it is running.
const quietCPUShare = 20 // 1/20: 5%

// quiet reports whether cpu, the CPU time the process used over period,
// leaves it idle enough for a periodic release.
func quiet(cpu, period time.Duration) bool {
	return cpu <= period/quietCPUShare
}

// pageRelease is what one release of the executable's pages did.
type pageRelease struct {
	// kib is how much of the executable's code and read-only data stopped
	// being resident, measured after the release.
	kib int64
	// advice is the madvise advice that released it: advicePageOut or
	// adviceDontNeed; empty when nothing was resident.
	advice string
	// heapKiB is how much of the Go heap the same release gave back to
	// the OS (idleMemoryRelease).
	heapKiB int64
	// moduleCodeKiB is how much of the modules' compiled code, mapped
	// from files, was resident and dropped (idleMemoryRelease).
	moduleCodeKiB int64
}

// The advice a release used, as its log names it.
const (
	// advicePageOut is MADV_PAGEOUT: the pages leave the page cache too.
	advicePageOut = "pageout"
	// adviceDontNeed is MADV_DONTNEED: only the process's mappings of
	// the pages go; the pages stay in the page cache.
	adviceDontNeed = "dontneed"
)

// releaseExecutablePagesEvery drops the executable's resident pages with
// release once the server has been quiet (by cpuTime, the CPU time the
// process has used) for first, trying again every first until it is, once
// it has started and built what it builds lazily; then every period in
// which the server was quiet, until ctx is done. Starting the server runs
// the init code of every package it links and touches most of a binary of
// ~130 MB, which stays mapped and counted in the process's memory although
// an idle server runs a small part of it again; what a burst of work
// touched since is dropped the same way once the server is quiet again. A
// busy server keeps its pages: it would read back at once what it runs.
// The pages come back from the page cache or the file as they are needed.
//
// A receive on soon says that the server just gave up much memory of its own
// (a module's compiled code unloaded for being idle): the next release is
// then first after it, once quiet, rather than at the end of the period, so
// that what that left (its garbage, the code that ran to free it) goes too.
func releaseExecutablePagesEvery(ctx context.Context, first, period time.Duration, cpuTime func() time.Duration,
	release func() (pageRelease, error), soon <-chan struct{}) {
	interval := first
	timer := time.NewTimer(interval)
	defer timer.Stop()
	lastCPU := cpuTime()
	for {
		select {
		case <-ctx.Done():
			return
		case <-soon:
			interval = first
			timer.Reset(interval)
			lastCPU = cpuTime()
			continue
		case <-timer.C:
		}
		now := cpuTime()
		used := now - lastCPU
		lastCPU = now
		if !quiet(used, interval) {
			klog.V(4).InfoS("Keeping the executable's resident pages: the server is busy", "cpu", used, "period", interval)
			timer.Reset(interval)
			continue
		}
		// A release that fails is logged and the next goes on: what
		// failed is the release's to give up (idleMemoryRelease).
		if r, err := release(); err != nil {
			klog.ErrorS(err, "Could not drop all the resident pages of code; giving back the rest from now on",
				"heapKiB", r.heapKiB, "moduleCodeKiB", r.moduleCodeKiB)
		} else {
			klog.V(2).InfoS("Dropped the executable's resident pages", "kib", r.kib, "advice", r.advice, "heapKiB", r.heapKiB,
				"moduleCodeKiB", r.moduleCodeKiB)
		}
		interval = period
		timer.Reset(interval)
	}
}
