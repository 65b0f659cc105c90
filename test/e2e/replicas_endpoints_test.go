//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// startServingReplicas applies artifacts/ and starts n replicas of group
// as the Deployment's pods would run: the serving certificate, delegated
// authentication and authorization against the cluster, the cluster's
// etcd under a prefix of their own, sharding on. Each gets an
// EndpointSlice of the wasm-apiserver Service (their ports differ, and a
// slice has one port list), which ep keeps ready while the replica's
// /readyz answers, as the endpoints controller would from the kubelet's
// readiness.
func startServingReplicas(t *testing.T, c *cluster, root, work, group string, n int) ([]*replica, *endpoints) {
	t.Helper()
	etcdURL := os.Getenv("ETCD_URL")
	if etcdURL == "" {
		t.Fatal("ETCD_URL is not set: run with `make test-e2e`")
	}
	certDir := applyArtifacts(t, c.Kubeconfig, root, work)
	saConfig := filepath.Join(work, "wasm-apiserver.kubeconfig")
	saKubeconfig(t, c, "wasm-system", "wasm-apiserver", saConfig)
	bin := buildServer(t, root, work)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ep := &endpoints{admin: kubernetes.NewForConfigOrDie(cfg), ready: map[string]bool{}, notReadyAt: map[string]time.Time{}}
	// Another test's slice may still point at a server that is gone.
	ep.deleteSlice(t, "wasm-apiserver-host")
	var rs []*replica
	for i := range n {
		id := fmt.Sprintf("replica-%d", i)
		r := &replica{id: id, srv: &serverProcess{bin: bin, stateDir: filepath.Join(work, id), certDir: certDir,
			kubeconfig: saConfig, port: freePort(t), flags: []string{
				"--etcd-servers=" + etcdURL, "--etcd-prefix=/e2e-" + group,
				"--sharding", "--sharding-group=" + group, "--sharding-identity=" + id,
			}}}
		if err := os.MkdirAll(r.srv.stateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.deleteSlice(t, "wasm-apiserver-"+id) })
		r.srv.start(t)
		rs = append(rs, r)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range rs {
				t.Logf("%s log:\n%s", r.id, r.srv.logTail())
			}
		}
	})
	for _, r := range rs {
		eventually(t, time.Minute, r.id+" /readyz", func() (bool, string) {
			return ep.probe(r), r.srv.logTail()
		})
		ep.set(t, r, true)
	}
	return rs, ep
}

// endpoints plays the endpoints controller for the replicas' slices.
type endpoints struct {
	admin kubernetes.Interface
	mu    sync.Mutex
	ready map[string]bool
	// notReadyAt is when a replica's endpoint was last marked not ready.
	notReadyAt map[string]time.Time
}

// follow probes every replica's /readyz every period, as a kubelet's
// readiness probe would, and marks its endpoint ready or not on the first
// change, until ctx is done.
func (ep *endpoints) follow(ctx context.Context, t *testing.T, rs []*replica, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, r := range rs {
			ready := ep.probe(r)
			ep.mu.Lock()
			changed := ep.ready[r.id] != ready
			ep.mu.Unlock()
			if changed {
				ep.set(t, r, ready)
			}
		}
	}
}

// probe says whether the replica's /readyz answers ok within a second. Like
// a kubelet, it does not verify the serving certificate.
func (ep *endpoints) probe(r *replica) bool {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
	resp, err := client.Get("https://127.0.0.1:" + strconv.Itoa(r.srv.port) + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// set writes the replica's slice with its endpoint ready or not.
func (ep *endpoints) set(t *testing.T, r *replica, ready bool) {
	port, name := int32(r.srv.port), "https"
	proto := corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "wasm-apiserver-" + r.id, Namespace: "wasm-system",
			Labels: map[string]string{discoveryv1.LabelServiceName: "wasm-apiserver"}},
		// The aggregator refuses loopback IP endpoints, so the address is an FQDN.
		AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	slices := ep.admin.DiscoveryV1().EndpointSlices("wasm-system")
	ctx := context.Background()
	old, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = old.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Errorf("EndpointSlice of %s: %v", r.id, err)
		return
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.ready[r.id] = ready
	if !ready {
		ep.notReadyAt[r.id] = time.Now()
	}
	t.Logf("endpoint of %s ready=%v", r.id, ready)
}

func (ep *endpoints) deleteSlice(t *testing.T, name string) {
	err := ep.admin.DiscoveryV1().EndpointSlices("wasm-system").Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Logf("deleting EndpointSlice %s: %v", name, err)
	}
}

// markedNotReady is when the replica's endpoint was marked not ready.
func (ep *endpoints) markedNotReady(id string) (time.Time, bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	at, ok := ep.notReadyAt[id]
	return at, ok
}
