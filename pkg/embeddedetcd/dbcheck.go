package embeddedetcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The layout of a bbolt file's two meta pages, at pages 0 and 1: a 16-byte
// page header, then magic, version, page size, flags (uint32 each), the
// root bucket (root page, sequence), the freelist page, the page count (the
// high-water mark), the transaction id and a checksum of what precedes it
// (uint64 each), all in the host's byte order.
const (
	pageHeaderSize = 16
	metaSize       = 64
	metaSumOffset  = 56
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	// minPageSize is the smallest page bbolt writes; meta page 0 is read
	// with it before the page size is known.
	minPageSize = 1024
)

// boltMeta is the part of a meta page the check needs.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta decodes and validates the meta page whose header starts at b.
func parseMeta(b []byte) (boltMeta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{}, errors.New("meta page cut short")
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	order := binary.NativeEndian
	if order.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errors.New("not a bbolt meta page")
	}
	if v := order.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaSumOffset])
	if h.Sum64() != order.Uint64(m[metaSumOffset:]) {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	meta := boltMeta{pageSize: order.Uint32(m[8:]), root: order.Uint64(m[16:]), freelist: order.Uint64(m[32:]),
		pgid: order.Uint64(m[40:]), txid: order.Uint64(m[48:])}
	if meta.pageSize < minPageSize || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", meta.pageSize)
	}
	if meta.pgid < 2 || meta.root >= meta.pgid || (meta.freelist >= meta.pgid && meta.freelist != noFreelist) {
		return boltMeta{}, fmt.Errorf("page ids out of range (root %d, freelist %d, count %d)",
			meta.root, meta.freelist, meta.pgid)
	}
	return meta, nil
}

// readMeta returns the meta page bbolt would use: the valid one with the
// higher transaction id.
func readMeta(f *os.File) (boltMeta, error) {
	first := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(first, 0); err != nil {
		return boltMeta{}, fmt.Errorf("reading meta page 0: %w", err)
	}
	m0, err0 := parseMeta(first)
	pageSize := int64(os.Getpagesize())
	if err0 == nil {
		pageSize = int64(m0.pageSize)
	}
	second := make([]byte, pageHeaderSize+metaSize)
	var m1 boltMeta
	_, err1 := f.ReadAt(second, pageSize)
	if err1 == nil {
		m1, err1 = parseMeta(second)
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("both meta pages are damaged: %w", err0)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, nil
	default:
		return m1, nil
	}
}

// checkDB checks the bbolt file at path, if there is one, before etcd maps
// it: its meta pages, that it is as long as they say (mapping a short file
// kills the process with SIGBUS), then the consistency of its pages.
func checkDB(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		return errors.New("file is empty")
	}
	meta, err := readMeta(f)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("file is cut short (%d bytes)", info.Size())
	}
	if err != nil {
		return err
	}
	if want := int64(meta.pgid) * int64(meta.pageSize); info.Size() < want {
		return fmt.Errorf("file is cut short: %d bytes, its meta page says %d", info.Size(), want)
	}
	return checkPages(f, meta)
}

// Page flags and element sizes of bbolt's branch and leaf pages.
const (
	branchPage     = 0x01
	leafPage       = 0x02
	bucketLeafFlag = 0x01
	elementSize    = 16
	maxDepth       = 64
)

// pageWalk reads pages with ReadAt, never mapping the file, so damage
// shows as an error rather than a fault or an assertion in bbolt.
type pageWalk struct {
	f    *os.File
	meta boltMeta
}

// checkPages walks the tree of buckets from the root and checks that every
// page it reaches lies within the file and identifies as itself.
func checkPages(f *os.File, meta boltMeta) error {
	w := pageWalk{f: f, meta: meta}
	return w.walk(meta.root, 0)
}

// walk checks the page id and what it points to.
func (w *pageWalk) walk(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxDepth)
	}
	if id < 2 || id >= w.meta.pgid {
		return fmt.Errorf("page id %d out of range", id)
	}
	size := int64(w.meta.pageSize)
	head := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(head, int64(id)*size); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	order := binary.NativeEndian
	flags, count, overflow := order.Uint16(head[8:]), int64(order.Uint16(head[10:])), uint64(order.Uint32(head[12:]))
	if got := order.Uint64(head); got != id {
		return fmt.Errorf("page %d identifies as %d", id, got)
	}
	if id+overflow >= w.meta.pgid {
		return fmt.Errorf("page %d: overflow %d past the end", id, overflow)
	}
	if flags != branchPage && flags != leafPage {
		return fmt.Errorf("page %d: flags %#x", id, flags)
	}
	length := int64(overflow+1) * size
	if pageHeaderSize+count*elementSize > length {
		return fmt.Errorf("page %d: %d elements overflow it", id, count)
	}
	page := make([]byte, length)
	if _, err := w.f.ReadAt(page, int64(id)*size); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	for i := int64(0); i < count; i++ {
		off := pageHeaderSize + i*elementSize
		e := page[off : off+elementSize]
		if flags == branchPage {
			if err := w.walk(order.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		pos, ksize, vsize := int64(order.Uint32(e[4:])), int64(order.Uint32(e[8:])), int64(order.Uint32(e[12:]))
		if off+pos+ksize+vsize > length {
			return fmt.Errorf("page %d: element %d past the page", id, i)
		}
		if order.Uint32(e[0:])&bucketLeafFlag == 0 || vsize < 16 {
			continue
		}
		// A bucket: its root page, or 0 when it is inline in the value.
		if root := order.Uint64(page[off+pos+ksize:]); root != 0 {
			if err := w.walk(root, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkData checks the database of the etcd data dir and explains how to
// recover when it is damaged.
func checkData(dataDir string) error {
	path := filepath.Join(dataDir, "member", "snap", "db")
	if err := checkDB(path); err != nil {
		return fmt.Errorf("embedded etcd database %s is damaged (%v): restore %s from a backup, "+
			"or remove it and start with --%s to begin with an empty store", path, err, dataDir, StartFreshFlag)
	}
	return nil
}
