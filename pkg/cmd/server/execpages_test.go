package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseExecutableMappings(t *testing.T) {
	exe := fileID{major: 0xfd, minor: 1, inode: 1234}
	smaps := `00400000-02b1a000 r-xp 00000000 fd:01 1234                       /usr/bin/wasm-apiserver
Size:              40040 kB
Rss:               28776 kB
Anonymous:             0 kB
02b1a000-05b54000 r--p 0271a000 fd:01 1234                       /usr/bin/wasm-apiserver
Rss:               48360 kB
Anonymous:             4 kB
05b54000-05c5d000 rw-p 05754000 fd:01 1234                       /usr/bin/wasm-apiserver
Rss:                1060 kB
Anonymous:           252 kB
05c5d000-05c70000 rw-p 00000000 00:00 0
Rss:                  12 kB
Anonymous:            12 kB
7f97e0599000-7f97e06d9000 r--p 00000000 fd:01 99                 /usr/lib/libc.so.6
Rss:                 100 kB
Anonymous:             0 kB
7f97e16db000-7f97e17db000 r-xp 00000000 fd:02 1234               /other/device/same/inode
Rss:                 100 kB
Anonymous:             0 kB
`
	tests := []struct {
		name    string
		smaps   string
		want    []executableMapping
		wantErr bool
	}{
		{
			name:  "only the executable's mappings, with their sizes",
			smaps: smaps,
			want: []executableMapping{
				{start: 0x400000, end: 0x2b1a000, rss: 28776},
				{start: 0x2b1a000, end: 0x5b54000, rss: 48360, anonymous: 4},
				{start: 0x5b54000, end: 0x5c5d000, writable: true, rss: 1060, anonymous: 252},
			},
		},
		{name: "nothing mapped", smaps: "", want: nil},
		{name: "a header cut short", smaps: "00400000-02b1a000 r-xp 00000000\n", wantErr: true},
		{name: "an address range backwards", smaps: "02b1a000-00400000 r-xp 00000000 fd:01 1234 /x\n", wantErr: true},
		{name: "a size that is no number", smaps: "00400000-02b1a000 r-xp 00000000 fd:01 1234 /x\nRss: many kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseExecutableMappings(strings.NewReader(tt.smaps), exe)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(executableMapping{})); diff != "" {
				t.Errorf("mappings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecutableMapping_Releasable(t *testing.T) {
	tests := []struct {
		name string
		m    executableMapping
		want bool
	}{
		{name: "code", m: executableMapping{rss: 10}, want: true},
		{name: "data", m: executableMapping{writable: true, rss: 10}},
		{name: "read-only with a private copy", m: executableMapping{rss: 10, anonymous: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.releasable(); got != tt.want {
				t.Errorf("releasable() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQuiet(t *testing.T) {
	tests := []struct {
		name   string
		cpu    time.Duration
		period time.Duration
		want   bool
	}{
		{name: "idle server, 0.4% of a core", cpu: 2400 * time.Millisecond, period: 10 * time.Minute, want: true},
		{name: "at the bound, 5%", cpu: 30 * time.Second, period: 10 * time.Minute, want: true},
		{name: "busy, 6%", cpu: 36 * time.Second, period: 10 * time.Minute},
		{name: "busy on two cores", cpu: 20 * time.Minute, period: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quiet(tt.cpu, tt.period); got != tt.want {
				t.Errorf("quiet(%s, %s) = %v, want %v", tt.cpu, tt.period, got, tt.want)
			}
		})
	}
}

// The first release, like the later ones, waits for a quiet period: a
// server still busy after it started keeps its pages until it is quiet.
func TestReleaseExecutablePagesEvery_WaitsForQuiet(t *testing.T) {
	const first = 20 * time.Millisecond
	var mu sync.Mutex
	var cpu time.Duration
	busyChecks := 3
	checks := 0
	releasedAt := -1
	cpuTime := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if checks > 0 && checks <= busyChecks {
			cpu += first // a whole core over the period
		}
		checks++
		return cpu
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		releaseExecutablePagesEvery(ctx, first, time.Hour, cpuTime, func() (pageRelease, error) {
			mu.Lock()
			defer mu.Unlock()
			releasedAt = checks
			cancel()
			return pageRelease{}, nil
		}, nil)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("no release once the server was quiet")
	}
	mu.Lock()
	defer mu.Unlock()
	// The first call reads the starting CPU time; the busy ones follow.
	if want := busyChecks + 2; releasedAt != want {
		t.Errorf("released after %d reads of the CPU time, want %d (after %d busy periods)", releasedAt, want, busyChecks)
	}
}

// A release that fails does not end the releases: the next quiet period
// releases again.
func TestReleaseExecutablePagesEvery_GoesOnAfterAFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	calls := 0
	go func() {
		defer close(done)
		releaseExecutablePagesEvery(ctx, time.Millisecond, time.Millisecond, func() time.Duration { return 0 }, func() (pageRelease, error) {
			calls++
			if calls == 3 {
				cancel()
			}
			return pageRelease{}, errors.New("madvise: operation not permitted")
		}, nil)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatalf("%d releases, then none: a failure stopped them", calls)
	}
	if calls != 3 {
		t.Errorf("%d releases before the stop, want 3: a failure stopped them", calls)
	}
}

// A receive on soon brings the next release to first after it, instead of
// the end of the period: the server has just freed much of its memory.
func TestReleaseExecutablePagesEvery_Soon(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	soon := make(chan struct{}, 1)
	released := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		releaseExecutablePagesEvery(ctx, 10*time.Millisecond, time.Hour, func() time.Duration { return 0 }, func() (pageRelease, error) {
			released <- struct{}{}
			return pageRelease{}, nil
		}, soon)
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-released:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	wait("first release")
	soon <- struct{}{}
	wait("release soon after the server freed memory, an hour before the period ends")
}
