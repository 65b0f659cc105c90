package main

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"sort"
	"strconv"
)

// residentSections returns how many KiB of each allocated ELF section of
// bin are resident in process pid, whose mappings of bin are ranges. It
// reads the present bit of each page from /proc/<pid>/pagemap; a page
// goes to the section its first byte is in, or to the next section when it
// is in none (the padding between them).
func residentSections(pid int, bin string, ranges [][2]uint64) (map[string]int64, []string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var secs []*elf.Section
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Addr != 0 && s.Size > 0 {
			secs = append(secs, s)
		}
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i].Addr < secs[j].Addr })
	pm, err := os.Open("/proc/" + strconv.Itoa(pid) + "/pagemap")
	if err != nil {
		return nil, nil, err
	}
	defer pm.Close()
	page := uint64(os.Getpagesize())
	out := map[string]int64{}
	var names []string
	for _, s := range secs {
		names = append(names, s.Name)
	}
	for _, r := range ranges {
		n := (r[1] - r[0]) / page
		entries := make([]byte, n*8)
		if _, err := pm.ReadAt(entries, int64(r[0]/page*8)); err != nil {
			return nil, nil, err
		}
		for i := uint64(0); i < n; i++ {
			if binary.LittleEndian.Uint64(entries[i*8:])&(1<<63) == 0 {
				continue
			}
			addr := r[0] + i*page
			k := sort.Search(len(secs), func(j int) bool { return secs[j].Addr+secs[j].Size > addr })
			if k == len(secs) {
				continue
			}
			out[secs[k].Name] += int64(page >> 10)
		}
	}
	return out, names, nil
}
