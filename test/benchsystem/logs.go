package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"time"
)

// reconcileEntry is the time of the first reconcile of key logged in the
// klog file path at or after since: the line wasm-apiserver (instances.go)
// and the native controllers log at V(4) as they call the reconcile,
//
//	I1123 15:04:05.123456   4242 instances.go:25] "Reconciling" … key="ns/name" …
//
// The header's time has no year and is local time, as klog writes it.
func reconcileEntry(path, key string, since time.Time) (time.Time, error) {
	want := []byte(`key="` + key + `"`)
	t, err := logged(path, []byte(`] "Reconciling"`), want, since)
	if err != nil {
		return time.Time{}, err
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%s: no reconcile of %s logged since %s", path, key, since.Format(time.StampMicro))
	}
	return t, nil
}

// waitReconcileEntry is reconcileEntry, waiting up to timeout for the
// line: the copy that ended a sample may have come first from another
// path (a resync of the namespace by another controller), and the
// controller's own wake be logged after.
func waitReconcileEntry(path, key string, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		t, err := reconcileEntry(path, key, since)
		if err == nil || time.Now().After(deadline) {
			return t, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logged returns the time of the first line of the klog file path at or
// after since that holds both marker and want, or the zero time.
func logged(path string, marker, want []byte, since time.Time) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, marker) || !bytes.Contains(line, want) {
			continue
		}
		t, err := klogTime(line, since)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		if !t.Before(since) {
			return t, nil
		}
	}
	return time.Time{}, sc.Err()
}

// klogTime reads the time of a klog header, "Lmmdd hh:mm:ss.uuuuuu", in
// the year of near.
func klogTime(line []byte, near time.Time) (time.Time, error) {
	if len(line) < 21 {
		return time.Time{}, fmt.Errorf("short klog line %q", line)
	}
	t, err := time.ParseInLocation("0102 15:04:05.000000", string(line[1:21]), time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("klog header %q: %w", line[:21], err)
	}
	year := near.In(time.Local).Year()
	t = t.AddDate(year, 0, 0)
	// A run over New Year's Eve: take the year that puts t nearest.
	if d := t.Sub(near); d > 180*24*time.Hour {
		t = t.AddDate(-1, 0, 0)
	} else if d < -180*24*time.Hour {
		t = t.AddDate(1, 0, 0)
	}
	return t, nil
}
