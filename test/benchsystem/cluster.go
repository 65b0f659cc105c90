package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/wasm-apiserver/wasm-apiserver/test/promtext"
)

// cluster is the local kube-apiserver and etcd that hack/cluster-up.sh
// started in dir.
type cluster struct {
	root, dir string
	env       map[string]string
	config    *rest.Config
	client    kubernetes.Interface
	// requests counts the harness's own requests through client.
	requests *atomic.Int64
}

// startCluster runs hack/cluster-up.sh with CLUSTER_DIR=dir. The caller
// must call stop even when it fails: a half-started cluster is stopped too.
func startCluster(ctx context.Context, root, dir string) (*cluster, error) {
	c := &cluster{root: root, dir: dir}
	if err := runCmd(ctx, []string{"CLUSTER_DIR=" + dir}, filepath.Join(root, "hack", "cluster-up.sh")); err != nil {
		return c, err
	}
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return c, err
	}
	c.env = env
	if c.config, err = clientcmd.BuildConfigFromFlags("", env["KUBECONFIG"]); err != nil {
		return c, err
	}
	c.config.QPS, c.config.Burst = 200, 400
	c.requests = new(atomic.Int64)
	c.config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &countingTransport{next: rt, count: c.requests}
	})
	c.client, err = kubernetes.NewForConfig(c.config)
	return c, err
}

// stop runs hack/cluster-down.sh.
func (c *cluster) stop(ctx context.Context) error {
	return runCmd(ctx, []string{"CLUSTER_DIR=" + c.dir}, filepath.Join(c.root, "hack", "cluster-down.sh"))
}

// readEnv reads the "export K=V" lines cluster-up.sh writes.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else if strings.HasPrefix(v, "$'") {
			return nil, fmt.Errorf("%s: cannot read %s=%s", path, k, v)
		}
		env[k] = v
	}
	return env, sc.Err()
}

// metricSum sums the samples of a Prometheus metric on the server behind
// client whose labels hold every one of the label="value" pairs.
func metricSum(ctx context.Context, client rest.Interface, name string, labels ...string) (float64, error) {
	page, err := client.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	return promtext.Sum(page, name, labels...)
}
