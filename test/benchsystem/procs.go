package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a program the harness started; stop ends it and its log.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startProcess starts bin with args and extra environment, its output to
// logDir/name.log.
func startProcess(logDir, name string, env []string, bin string, args ...string) (*process, error) {
	log, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that a Ctrl-C on the harness reaches only
	// the harness, which then stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// exited says whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and, after grace, SIGKILL; it waits for the end.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		p.log.Close()
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// logContains says whether the process's log holds s.
func (p *process) logContains(s string) bool {
	b, _ := os.ReadFile(p.log.Name())
	return strings.Contains(string(b), s)
}

// memory is a process's resident and proportional set size, in bytes.
type memory struct{ RSS, PSS int64 }

func (m memory) add(o memory) memory { return memory{m.RSS + o.RSS, m.PSS + o.PSS} }

// readMemory reads RSS and PSS of pid from /proc/<pid>/smaps_rollup, and
// adds the pages of the anonymous files (memfds) pid holds that it does not
// map: they are memory only the process's closing them frees, and appear
// in no process's PSS while unmapped.
func readMemory(pid int) (memory, error) {
	m, err := readRollup(pid)
	if err != nil {
		return m, err
	}
	held, err := unmappedMemfdBytes(pid)
	if err != nil {
		return m, err
	}
	m.RSS += held
	m.PSS += held
	return m, nil
}

// unmappedMemfdBytes sums, over the memfds pid holds open, the bytes
// allocated to each less what pid maps of it (already in its RSS and PSS).
// It reads pid's smaps, whose cost grows with the process's mappings and
// which takes its memory map's lock, only when pid holds a memfd: the
// busy stream samples every second.
func unmappedMemfdBytes(pid int) (int64, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	allocated := map[uint64]int64{} // by inode
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		link, err := os.Readlink(path)
		if err != nil || !strings.HasPrefix(link, "/memfd:") {
			continue // closed meanwhile, or another file
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err == nil {
			allocated[st.Ino] = st.Blocks * 512
		}
	}
	if len(allocated) == 0 {
		return 0, nil
	}
	mapped, err := mappedMemfdBytes(pid)
	if err != nil {
		return 0, err
	}
	var sum int64
	for ino, n := range allocated {
		sum += max(0, n-mapped[ino])
	}
	return sum, nil
}

// mappedMemfdBytes returns, by inode, the resident bytes of pid's mappings
// of memfds, from /proc/<pid>/smaps.
func mappedMemfdBytes(pid int) (map[uint64]int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[uint64]int64{}
	var ino uint64
	memfd := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header
			memfd = len(fields) >= 6 && strings.HasPrefix(fields[5], "/memfd:")
			if memfd {
				ino, _ = strconv.ParseUint(fields[4], 10, 64)
			}
			continue
		}
		if memfd && fields[0] == "Rss:" && len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			out[ino] += kb << 10
		}
	}
	return out, sc.Err()
}

// readRollup reads RSS and PSS of pid from /proc/<pid>/smaps_rollup.
func readRollup(pid int) (memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			m.RSS = kb << 10
		case "Pss:":
			m.PSS = kb << 10
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("pid[%d]: no Rss in smaps_rollup", pid)
	}
	return m, sc.Err()
}

// runCmd runs a command to its end within ctx, with extra environment, and
// returns an error that includes its output.
func runCmd(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out, 3000))
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
