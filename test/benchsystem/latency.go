package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// latencySamples is how many writes each side's latency is taken from.
const latencySamples = 40

// latency is what one side's writes measured: for each write of a source,
// the time to its controller's reconcile entry and to the copy's event.
type latency struct {
	entry, copy []time.Duration
}

// writeToCopy measures, for samples writes, the time from a write of a
// source's data on kube-apiserver to the reconcile entry of its controller
// (read from the log that logOf names for source i; none if logOf is nil)
// and to the event of its copy carrying that data: the controller's wake,
// reconcile and write, as the harness sees them through a watch. The writes
// go round the n controllers, one at a time and, when measured, 300 ms
// apart, so that each finds its controller idle again.
func writeToCopy(ctx context.Context, client kubernetes.Interface, n, samples int, logOf func(i int) string) (latency, error) {
	var out latency
	list, err := client.CoreV1().ConfigMaps(dstNamespace).List(ctx, metav1.ListOptions{LabelSelector: copyLabel})
	if err != nil {
		return out, err
	}
	w, err := client.CoreV1().ConfigMaps(dstNamespace).Watch(ctx, metav1.ListOptions{
		LabelSelector: copyLabel, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return out, err
	}
	defer w.Stop()
	for s := range samples {
		name := sourceName(s % n)
		stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
		patch := []byte(`{"data":{"value":"` + stamp + `"}}`)
		start := time.Now()
		if _, err := client.CoreV1().ConfigMaps(srcNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return out, err
		}
		if err := waitForCopy(ctx, w, name, stamp, 30*time.Second); err != nil {
			return out, fmt.Errorf("sample %d (%s): %w", s, name, err)
		}
		out.copy = append(out.copy, time.Since(start))
		if logOf != nil {
			entry, err := waitReconcileEntry(logOf(s%n), srcNamespace+"/"+name, start, 10*time.Second)
			if err != nil {
				return out, fmt.Errorf("sample %d: %w", s, err)
			}
			out.entry = append(out.entry, entry.Sub(start))
		}
		if logOf == nil {
			continue // a pass that readies the guests measures nothing
		}
		// Let the controller finish the wake its own write causes and,
		// with policy Immediate, suspend again.
		time.Sleep(300 * time.Millisecond)
	}
	return out, nil
}

func waitForCopy(ctx context.Context, w watch.Interface, name, stamp string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("no copy with the new data within %s", timeout)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed")
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == name && cm.Data["value"] == stamp {
				return nil
			}
		}
	}
}

// quantile is the q-quantile of ds by the nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
