package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// measure runs the server bin on stateDir until it is ready and has been
// idle for idle, and returns where its memory is.
func measure(ctx context.Context, bin, stateDir, kubeconfig string, idle time.Duration) (breakdown, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return breakdown{}, err
	}
	port, err := freePort()
	if err != nil {
		return breakdown{}, err
	}
	args := []string{"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port), "--state-dir=" + stateDir}
	if kubeconfig == "" {
		args = append(args, "--standalone")
	} else {
		args = append(args, "--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig,
			"--authorization-kubeconfig="+kubeconfig)
	}
	log, err := os.Create(filepath.Join(stateDir, "wasm-apiserver.log"))
	if err != nil {
		return breakdown{}, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return breakdown{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitReady(ctx, port, stateDir, kubeconfig == ""); err != nil {
		return breakdown{}, fmt.Errorf("%w (log: %s)", err, log.Name())
	}
	select {
	case <-ctx.Done():
		return breakdown{}, ctx.Err()
	case <-time.After(idle):
	}
	return readBreakdown(cmd.Process.Pid, bin)
}

// waitReady polls the server's /readyz until it answers ok, with the
// generated token when it runs standalone.
func waitReady(ctx context.Context, port int, stateDir string, standalone bool) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a loopback server's self-signed certificate
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/readyz"
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		if standalone {
			token, err := os.ReadFile(filepath.Join(stateDir, "standalone-token"))
			if err != nil {
				return false, nil
			}
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
