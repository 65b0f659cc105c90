package modules

import "testing"

// TestStore_SourceRecordsArePruned checks that the record of where a module
// came from survives a restart while the module does, and no longer.
func TestStore_SourceRecordsArePruned(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := s.Add(wasmModule("kept"))
	if err != nil {
		t.Fatal(err)
	}
	lease.Release()
	gone := digestOf([]byte("gone"))
	for _, d := range []string{lease.Digest(), gone} {
		if err := s.recordSource(sourceOfURL("https://example.com/m.wasm"), d); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.fetchedFrom(sourceOfURL("https://example.com/m.wasm"), lease.Digest()) {
		t.Error("the source of a stored module was forgotten")
	}
	if s2.fetchedFrom(sourceOfURL("https://example.com/m.wasm"), gone) {
		t.Error("the source of a module no longer stored was kept")
	}
	if s2.fetchedFrom(sourceOfURL("https://example.com/other.wasm"), lease.Digest()) {
		t.Error("a module is recorded from a URL it never came from")
	}
}
