package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// The objects of the benchmark. Every controller i replicates its own
// source ConfigMap src-i from srcNamespace into dstNamespace and is woken
// only by it and its copy; both sides run the same controllers.
const (
	srcNamespace = "bench-src"
	dstNamespace = "bench-dst"
	setLabel     = "bench.wasm.io/set"
	// The labels of examples/configmap-replicator.
	sourceLabel = "wasm.io/replicate"
	targetLabel = "wasm.io/replicate-configmaps"
	copyLabel   = "wasm.io/replicated-from"
)

var wasmControllers = schema.GroupVersionResource{Group: "controllers.wasm.io", Version: "v1alpha1", Resource: "wasmcontrollers"}

func sourceName(i int) string { return "src-" + strconv.Itoa(i) }

// setUpNamespaces creates the source and target namespaces.
func setUpNamespaces(ctx context.Context, client kubernetes.Interface) error {
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: srcNamespace}},
		{ObjectMeta: metav1.ObjectMeta{Name: dstNamespace, Labels: map[string]string{targetLabel: "true"}}},
	} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// ensureSources creates the sources src-0 … src-(n-1) that do not exist.
func ensureSources(ctx context.Context, client kubernetes.Interface, n int) error {
	for i := range n {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: srcNamespace, Name: sourceName(i),
				Labels: map[string]string{sourceLabel: "true", setLabel: strconv.Itoa(i)}},
			Data: map[string]string{"value": "initial"},
		}
		if _, err := client.CoreV1().ConfigMaps(srcNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// deleteCopies deletes every copy in the target namespace, so that each
// side shows its work by making them again.
func deleteCopies(ctx context.Context, client kubernetes.Interface) error {
	return client.CoreV1().ConfigMaps(dstNamespace).DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: copyLabel})
}

// waitCopies waits until the copies of src-0 … src-(n-1) exist.
func waitCopies(ctx context.Context, client kubernetes.Interface, n int, timeout time.Duration) error {
	var have int
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().ConfigMaps(dstNamespace).List(ctx, metav1.ListOptions{LabelSelector: copyLabel})
		if err != nil {
			return false, nil
		}
		have = len(list.Items)
		return have >= n, nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d copies within %s: %w", have, n, timeout, err)
	}
	return nil
}

// wasmController is controller i: examples/configmap-replicator/wasmcontroller.yaml
// with the given module, watches narrowed to its own source and copy, and the
// given suspend policy.
func wasmController(i int, policy string, module map[string]any) *unstructured.Unstructured {
	set := strconv.Itoa(i)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "controllers.wasm.io/v1alpha1",
		"kind":       "WasmController",
		"metadata":   map[string]any{"name": "replicator-" + set, "namespace": "default"},
		"spec": map[string]any{
			"module":             module,
			"serviceAccountName": "configmap-replicator",
			"watches": []any{
				map[string]any{
					"apiVersion":    "v1",
					"kind":          "ConfigMap",
					"labelSelector": map[string]any{"matchLabels": map[string]any{sourceLabel: "true", setLabel: set}},
					"wakeWhen": "eventType != 'MODIFIED' || " +
						"object.?data.orValue({}) != oldObject.?data.orValue({}) || " +
						"object.?binaryData.orValue({}) != oldObject.?binaryData.orValue({}) || " +
						"object.metadata.?labels.orValue({}) != oldObject.metadata.?labels.orValue({})",
				},
				map[string]any{
					"apiVersion":    "v1",
					"kind":          "ConfigMap",
					"labelSelector": map[string]any{"matchLabels": map[string]any{copyLabel: srcNamespace + "." + sourceName(i)}},
					"wakeWhen":      "eventType != 'ADDED'",
					"enqueue":       "object.metadata.labels['" + copyLabel + "'].replace('.', '/', 1)",
				},
				map[string]any{
					"apiVersion": "v1",
					"kind":       "Namespace",
					"wakeWhen": "eventType != 'DELETED' && " +
						"object.metadata.?labels[?'" + targetLabel + "'].orValue('') != " +
						"(eventType == 'ADDED' ? '' : oldObject.metadata.?labels[?'" + targetLabel + "'].orValue(''))",
				},
			},
			"resyncPeriod": "10m",
			"suspend":      map[string]any{"policy": policy},
			"limits":       map[string]any{"memory": "32Mi", "reconcileTimeout": "10s"},
		},
	}}
}

// createWasmControllers creates controllers 0 … n-1, controller i with the
// module moduleOf(i).
func createWasmControllers(ctx context.Context, client dynamic.Interface, n int, policy string, moduleOf func(i int) map[string]any) error {
	for i := range n {
		if _, err := client.Resource(wasmControllers).Namespace("default").Create(ctx, wasmController(i, policy, moduleOf(i)), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("wasmcontroller[%d]: %w", i, err)
		}
	}
	return nil
}

// waitPhases waits until every WasmController reports one of phases at
// its current generation.
func waitPhases(ctx context.Context, client dynamic.Interface, n int, timeout time.Duration, phases ...string) error {
	var count map[string]int
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := client.Resource(wasmControllers).Namespace("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		count = map[string]int{}
		in := 0
		for _, wc := range list.Items {
			phase, _, _ := unstructured.NestedString(wc.Object, "status", "phase")
			observed, _, _ := unstructured.NestedInt64(wc.Object, "status", "observedGeneration")
			if observed != wc.GetGeneration() {
				phase = "(generation " + strconv.FormatInt(wc.GetGeneration(), 10) + " not observed)"
			}
			count[phase]++
			for _, p := range phases {
				if phase == p {
					in++
				}
			}
		}
		return in == n, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d controllers in %v within %s, have %v: %w", n, phases, timeout, count, err)
	}
	return nil
}

// setSuspend sets the suspend policy of the controllers <prefix>0 … <prefix>(n-1).
func setSuspend(ctx context.Context, client dynamic.Interface, prefix string, n int, policy string, snapshot bool) error {
	patch := []byte(`{"spec":{"suspend":{"policy":"` + policy + `","snapshot":` + strconv.FormatBool(snapshot) + `}}}`)
	for i := range n {
		if _, err := client.Resource(wasmControllers).Namespace("default").Patch(ctx, prefix+strconv.Itoa(i),
			types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("wasmcontroller[%d]: %w", i, err)
		}
	}
	return nil
}
