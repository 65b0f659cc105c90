// Package embeddedetcd runs a single-member etcd inside wasm-apiserver, so
// that one command runs the server with no external storage.
package embeddedetcd

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/klog/v2"
)

// startTimeout bounds how long etcd may take to become ready.
const startTimeout = 60 * time.Second

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
	// closing quiets etcd's logger while it stops.
	closing *atomic.Bool
	// ClientURL is where the etcd client API listens, on loopback.
	ClientURL string
}

// Config says where the embedded etcd keeps its data.
type Config struct {
	// StateDir is the server's state dir. Start records in it that etcd was
	// initialised, and reads in it whether the server ran there before.
	StateDir string
	// DataDir holds etcd's data; it is created if missing.
	DataDir string
	// StartFresh lets Start begin with an empty store although StateDir
	// shows an earlier run whose data is missing. It deletes nothing.
	StartFresh bool

	// logOutput receives etcd's own log; stderr when nil.
	logOutput io.Writer
}

// Start runs etcd with its data in c.DataDir, listening on a free loopback
// port, and returns once it serves.
//
// # Errors
//
// Start fails when the data is missing but c.StateDir shows an earlier run
// (unless c.StartFresh), when the database is damaged, when the dirs cannot
// be used, etcd fails to start, or it does not become ready within a
// minute; nothing keeps running then.
func Start(ctx context.Context, c Config) (*Server, error) {
	dir := c.DataDir
	if err := checkHistory(c.StateDir, dir, c.StartFresh); err != nil {
		return nil, err
	}
	if err := checkData(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir[%s]: %w", dir, err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "wasm-apiserver"
	cfg.Dir = dir
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	closing := &atomic.Bool{}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newLogger(c.logOutput, closing))
	// No metrics or pprof endpoints of etcd's own: wasm-apiserver serves its own.
	cfg.ListenMetricsUrls = nil

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(startTimeout):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s was not ready within %s", dir, startTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	if err := writeMarker(c.StateDir); err != nil {
		e.Close()
		return nil, err
	}
	s := &Server{etcd: e, closing: closing, ClientURL: "http://" + e.Clients[0].Addr().String()}
	klog.InfoS("Embedded etcd is serving", "dataDir", dir, "clientURL", s.ClientURL)
	return s, nil
}

// Close stops etcd and waits until its data is flushed.
func (s *Server) Close() {
	s.closing.Store(true)
	s.etcd.Close()
	klog.InfoS("Embedded etcd stopped")
}
