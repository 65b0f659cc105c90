package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// The chain: controller i (test/guests/relay, test/benchsystem/native-relay)
// forwards ConfigMap hop-i to hop-(i+1) in chainNamespace, so that one write
// of hop-0 wakes every controller in turn.
const (
	chainNamespace = "bench-chain"
	hopLabel       = "bench.wasm.io/hop"
	relayAccount   = "relay"
	// chainRuns is how many times each way of running the chain carries a
	// write from end to end.
	chainRuns = 5
)

// chainResult is the end-to-end times of the chain: every guest closed
// after each reconcile, restored from a snapshot, kept warm, and native.
type chainResult struct {
	hops                           int
	closed, snapshot, warm, native []time.Duration
}

func hopName(i int) string { return "hop-" + strconv.Itoa(i) }

// setUpChain creates the chain's namespace, hop-0 and the relays' RBAC: they
// get, list, watch and apply ConfigMaps in the chain's namespace only.
func setUpChain(ctx context.Context, client kubernetes.Interface) error {
	objs := []func() error{
		func() error {
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chainNamespace}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: relayAccount}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.RbacV1().Roles(chainNamespace).Create(ctx, &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Name: relayAccount},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
					Verbs: []string{"get", "list", "watch", "create", "patch"}}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.RbacV1().RoleBindings(chainNamespace).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: relayAccount},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: relayAccount},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: relayAccount, Namespace: "default"}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.CoreV1().ConfigMaps(chainNamespace).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: hopName(0), Labels: map[string]string{hopLabel: "0"}},
				Data:       map[string]string{"token": "start"},
			}, metav1.CreateOptions{})
			return err
		},
	}
	for _, create := range objs {
		if err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// relayController is hop i of the chain as a WasmController.
func relayController(i int, module map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "controllers.wasm.io/v1alpha1",
		"kind":       "WasmController",
		"metadata":   map[string]any{"name": "relay-" + strconv.Itoa(i), "namespace": "default"},
		"spec": map[string]any{
			"module":             module,
			"serviceAccountName": relayAccount,
			"env":                []any{map[string]any{"name": "RELAY_HOP", "value": strconv.Itoa(i)}},
			"watches": []any{map[string]any{
				"apiVersion":    "v1",
				"kind":          "ConfigMap",
				"namespace":     chainNamespace,
				"labelSelector": map[string]any{"matchLabels": map[string]any{hopLabel: strconv.Itoa(i)}},
				"wakeWhen":      "eventType != 'DELETED'",
			}},
			"suspend": map[string]any{"policy": "Immediate"},
			"limits":  map[string]any{"memory": "32Mi", "reconcileTimeout": "10s"},
		},
	}}
}

// measureChain runs the chain of hops controllers in a wasm-apiserver, in
// each suspend mode, then as native processes.
func (b *bench) measureChain(ctx context.Context, hops int) (chainResult, error) {
	c := b.cluster
	res := chainResult{hops: hops}
	if err := setUpChain(ctx, c.client); err != nil {
		return res, err
	}
	srv, err := b.startServer(ctx, "chain")
	if err != nil {
		return res, err
	}
	defer srv.stop()
	logf("chain: %d relays in wasm-apiserver", hops)
	for i := range hops {
		if _, err := srv.client.Resource(wasmControllers).Namespace("default").Create(ctx,
			relayController(i, b.modules.module("relay", 0)), metav1.CreateOptions{}); err != nil {
			return res, fmt.Errorf("relay[%d]: %w", i, err)
		}
	}
	// At start every relay wakes for its hop, so the chain's first run is
	// done when the last hop exists.
	if err := waitHop(ctx, c.client, hops, timeoutFor(hops)); err != nil {
		return res, err
	}
	if res.closed, err = b.chainMode(ctx, srv.client, hops, "Suspended"); err != nil {
		return res, fmt.Errorf("closed: %w", err)
	}
	if err := setSuspend(ctx, srv.client, "relay-", hops, "Immediate", true); err != nil {
		return res, err
	}
	if _, err := chainRun(ctx, c.client, hops); err != nil { // a snapshot of each
		return res, err
	}
	if res.snapshot, err = b.chainMode(ctx, srv.client, hops, "Suspended"); err != nil {
		return res, fmt.Errorf("snapshot: %w", err)
	}
	if err := setSuspend(ctx, srv.client, "relay-", hops, "Never", false); err != nil {
		return res, err
	}
	if _, err := chainRun(ctx, c.client, hops); err != nil { // every guest instantiated
		return res, err
	}
	if res.warm, err = b.chainMode(ctx, srv.client, hops, "Active"); err != nil {
		return res, fmt.Errorf("warm: %w", err)
	}
	srv.stop()

	logf("chain: %d native relays", hops)
	procs := make([]*process, 0, hops)
	defer func() { stopAll(procs) }()
	for i := range hops {
		p, err := startProcess(b.work, "native-relay-"+strconv.Itoa(i), nil, filepath.Join(b.bin, "native-relay"),
			"--kubeconfig="+c.env["KUBECONFIG"], "--namespace="+chainNamespace, "--hop="+strconv.Itoa(i), "--vmodule=main=4")
		if err != nil {
			return res, err
		}
		procs = append(procs, p)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeoutFor(hops), true, func(context.Context) (bool, error) {
		for _, p := range procs {
			if p.exited() {
				return false, fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.log.Name())
			}
			if !p.logContains("caches synced") {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return res, err
	}
	if _, err := chainRun(ctx, c.client, hops); err != nil { // as the others: one run first
		return res, err
	}
	res.native, err = b.chainMode(ctx, nil, hops, "")
	return res, err
}

// chainMode runs the chain chainRuns times, each once every relay of the
// server behind client (if any) is in phase.
func (b *bench) chainMode(ctx context.Context, client dynamic.Interface, hops int, phase string) ([]time.Duration, error) {
	var out []time.Duration
	for range chainRuns {
		if client != nil {
			if err := waitPhases(ctx, client, hops, timeoutFor(hops), phase); err != nil {
				return out, err
			}
		}
		d, err := chainRun(ctx, b.cluster.client, hops)
		if err != nil {
			return out, err
		}
		out = append(out, d)
		logf("chain: %d hops in %s", hops, d.Round(time.Millisecond))
	}
	return out, nil
}

// chainRun writes a new token into hop-0 and returns the time until the
// last hop holds it.
func chainRun(ctx context.Context, client kubernetes.Interface, hops int) (time.Duration, error) {
	last := hopName(hops)
	list, err := client.CoreV1().ConfigMaps(chainNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	w, err := client.CoreV1().ConfigMaps(chainNamespace).Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + last, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	token := strconv.FormatInt(time.Now().UnixNano(), 10)
	start := time.Now()
	if _, err := client.CoreV1().ConfigMaps(chainNamespace).Patch(ctx, hopName(0), types.MergePatchType,
		[]byte(`{"data":{"token":"`+token+`"}}`), metav1.PatchOptions{}); err != nil {
		return 0, err
	}
	timeout := time.NewTimer(timeoutFor(hops))
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timeout.C:
			return 0, fmt.Errorf("the token did not reach %s within %s", last, timeoutFor(hops))
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("watch of %s closed", last)
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Data["token"] == token {
				return time.Since(start), nil
			}
		}
	}
}

// waitHop waits until hop-i exists.
func waitHop(ctx context.Context, client kubernetes.Interface, i int, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ConfigMaps(chainNamespace).Get(ctx, hopName(i), metav1.GetOptions{})
		return err == nil, nil
	})
}
