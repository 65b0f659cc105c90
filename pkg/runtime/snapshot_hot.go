package runtime

// Hot pages. A guest restored by mapping its snapshot (mapRuns) copies
// each page it writes out of the file on a page fault of its own, and a
// Go guest's reconcile writes the same few dozen pages wake after wake:
// its stack, its allocator's spans and metadata. Each fault costs more than
// copying the page does, so a snapshot lists the pages the wake that took
// it wrote (its hot runs), and the restore copies them in at once
// (prefault), one call a run, before the guest runs.
//
// A page copied at the restore cannot be told apart, at the next snapshot,
// from one the guest wrote: both are the instance's own copy. A hot run
// therefore has an age, the number of snapshots it was listed in since the
// guest last faulted it; it is dropped at maxHotAge, and a page the guest
// still writes then faults once and is hot again from age 0. A page a single
// heavy wake wrote is copied at the next maxHotAge restores at most.

const (
	// maxHotPages bounds the pages a snapshot lists as hot: what a restore
	// copies before the guest runs (4 MiB).
	maxHotPages = 1024
	// maxHotAge is the number of snapshots a page copied at restores stays
	// hot without the guest faulting it.
	maxHotAge = 8
)

// hotRun is a run of pages of a snapshot's memory, in bytes, that the
// guest wrote, all of the same age.
type hotRun struct {
	off, len uint64
	age      uint8
}

// hotRunsOf returns the hot runs of a memory whose pages have the pagemap
// entries entries, given the runs prefaulted when it was restored (nil for
// none, in address order): every page the instance holds a copy of, not
// swapped out, aged by one if it was prefaulted and dropped at maxHotAge,
// at most maxHotPages pages in address order.
func hotRunsOf(entries []uint64, prefaulted []hotRun) []hotRun {
	var hot []hotRun
	pages, k := 0, 0 // prefaulted[:k] end before the page
	for p, e := range entries {
		if e&(pagemapPresent|pagemapFile|pagemapSwapped) != pagemapPresent {
			continue
		}
		if pages == maxHotPages {
			break
		}
		off := uint64(p) * snapshotPage
		for k < len(prefaulted) && prefaulted[k].off+prefaulted[k].len <= off {
			k++
		}
		age := 0
		if k < len(prefaulted) && prefaulted[k].off <= off {
			age = int(prefaulted[k].age) + 1
		}
		if age >= maxHotAge {
			continue
		}
		pages++
		if n := len(hot); n > 0 && hot[n-1].off+hot[n-1].len == off && int(hot[n-1].age) == age {
			hot[n-1].len += snapshotPage
			continue
		}
		hot = append(hot, hotRun{off: off, len: snapshotPage, age: uint8(age)})
	}
	return hot
}

// storedOnly returns the parts of hot that lie inside extents, the runs
// of pages a snapshot stores (neither zero nor the image's), both in
// address order. A page the guest wrote that is zero when the snapshot is
// taken (a span its collector freed, a stack it shrank) is a hole of the
// new file, or no file's page at all: copying a hole in at the restore
// reads it through the file system, as the first page of each readahead
// window of a new file costs (~55 µs here), where the guest, which freed
// it, may not touch it again.
func storedOnly(hot []hotRun, extents []snapshotRun) []hotRun {
	var out []hotRun
	k := 0
	for _, h := range hot {
		for k < len(extents) && extents[k].off+extents[k].len <= h.off {
			k++
		}
		for j := k; j < len(extents) && extents[j].off < h.off+h.len; j++ {
			from, to := max(h.off, extents[j].off), min(h.off+h.len, extents[j].off+extents[j].len)
			out = append(out, hotRun{off: from, len: to - from, age: h.age})
		}
	}
	return out
}

// checkHotRuns checks the hot runs of a snapshot of memory bytes: in order,
// not empty, not overlapping, inside memory, younger than maxHotAge and at
// most maxHotPages pages.
func checkHotRuns(hot []hotRun, memory uint64) error {
	var end, pages uint64
	for k, r := range hot {
		if r.len == 0 || r.off+r.len > memory || (k > 0 && r.off < end) || r.age >= maxHotAge {
			return invalid("hot run %d (pages %d+%d, age %d) is empty, out of order, outside memory of %d bytes or too old", k, r.off/snapshotPage, r.len/snapshotPage, r.age, memory)
		}
		end = r.off + r.len
		if pages += r.len / snapshotPage; pages > maxHotPages {
			return invalid("hot runs of more than %d pages", maxHotPages)
		}
	}
	return nil
}

// prefault copies the hot runs of buf, a memory a snapshot was just mapped
// over, into the instance, and returns the runs it copied: all of them, or
// those before the first the kernel did not copy (populateWrite), the rest
// left to fault in as the guest touches them.
func prefault(buf []byte, hot []hotRun) []hotRun {
	for k, r := range hot {
		if !populateWrite(buf[r.off : r.off+r.len]) {
			return hot[:k]
		}
	}
	return hot
}
