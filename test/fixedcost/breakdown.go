package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// breakdown is where a process's memory is, in KiB.
type breakdown struct {
	// pss is the process's proportional set size by kind of mapping
	// (kinds), rss its resident set size.
	pss map[string]int64
	rss int64
	// sections is how much of each ELF section of the executable is
	// resident (sectionNames gives their order).
	sections     map[string]int64
	sectionNames []string
}

// The kinds of mapping a breakdown sums PSS over, in the order printed.
var kinds = []string{
	"executable code",
	"executable read-only data",
	"executable data",
	"anonymous (Go heap, stacks, runtime)",
	"etcd database (mmap)",
	"other files",
}

// kindOf returns which of kinds the mapping of path with perms is.
func kindOf(path, perms, exe string) string {
	switch {
	case path == exe && strings.Contains(perms, "x"):
		return kinds[0]
	case path == exe && !strings.Contains(perms, "w"):
		return kinds[1]
	case path == exe:
		return kinds[2]
	case path == "" || strings.HasPrefix(path, "["):
		return kinds[3]
	case strings.HasSuffix(path, "/member/snap/db"):
		return kinds[4]
	default:
		return kinds[5]
	}
}

// readBreakdown reads /proc/<pid>/smaps and, for the sections of the
// executable bin, /proc/<pid>/pagemap.
func readBreakdown(pid int, bin string) (breakdown, error) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return breakdown{}, err
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps")
	if err != nil {
		return breakdown{}, err
	}
	defer f.Close()
	b := breakdown{pss: map[string]int64{}}
	var kind string
	var exeRanges [][2]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") && len(fields) >= 5 {
			path := ""
			if len(fields) > 5 {
				path = strings.Join(fields[5:], " ")
			}
			kind = kindOf(path, fields[1], exe)
			if path == exe {
				start, end, _ := strings.Cut(fields[0], "-")
				s, _ := strconv.ParseUint(start, 16, 64)
				e, _ := strconv.ParseUint(end, 16, 64)
				exeRanges = append(exeRanges, [2]uint64{s, e})
			}
			continue
		}
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Pss:":
			b.pss[kind] += kb
		case "Rss:":
			b.rss += kb
		}
	}
	if err := sc.Err(); err != nil {
		return breakdown{}, fmt.Errorf("reading smaps: %w", err)
	}
	b.sections, b.sectionNames, err = residentSections(pid, bin, exeRanges)
	if err != nil {
		return breakdown{}, err
	}
	return b, nil
}

// total is the process's PSS.
func (b breakdown) total() int64 {
	var t int64
	for _, v := range b.pss {
		t += v
	}
	return t
}
