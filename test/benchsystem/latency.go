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
// the time to its controller's reconcile entry and to the copy's event, and
// where the time to the entry went: the write's own round trip to
// kube-apiserver (commit), the source's event reaching a watcher of the
// harness (seen), which stands for the controller's own watch as both are
// served by kube-apiserver's watch cache, and the rest (entry - seen), the
// controller's part.
type latency struct {
	entry, copy  []time.Duration
	commit, seen []time.Duration
}

// controllerPart returns, sample by sample, the time from the source's
// event at the harness's watch to the controller's reconcile entry.
func (l latency) controllerPart() []time.Duration {
	out := make([]time.Duration, 0, len(l.entry))
	for i := range min(len(l.entry), len(l.seen)) {
		out = append(out, l.entry[i]-l.seen[i])
	}
	return out
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
	srcList, err := client.CoreV1().ConfigMaps(srcNamespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return out, err
	}
	sw, err := client.CoreV1().ConfigMaps(srcNamespace).Watch(ctx, metav1.ListOptions{ResourceVersion: srcList.ResourceVersion})
	if err != nil {
		return out, err
	}
	defer sw.Stop()
	for s := range samples {
		name := sourceName(s % n)
		stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
		patch := []byte(`{"data":{"value":"` + stamp + `"}}`)
		start := time.Now()
		if _, err := client.CoreV1().ConfigMaps(srcNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return out, err
		}
		committed := time.Since(start)
		seen, err := waitForData(ctx, sw, name, stamp, 30*time.Second)
		if err != nil {
			return out, fmt.Errorf("sample %d (%s): the source's event: %w", s, name, err)
		}
		if _, err := waitForData(ctx, w, name, stamp, 30*time.Second); err != nil {
			return out, fmt.Errorf("sample %d (%s): %w", s, name, err)
		}
		out.copy = append(out.copy, time.Since(start))
		out.commit = append(out.commit, committed)
		out.seen = append(out.seen, seen.Sub(start))
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

// waitForData waits for w's event of ConfigMap name carrying stamp, and
// returns when it arrived. The event of a source that the harness's watch
// delivers while the copy is awaited is still in the channel: the time is
// taken as each event is read, so read the source's watch first.
func waitForData(ctx context.Context, w watch.Interface, name, stamp string, timeout time.Duration) (time.Time, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-timer.C:
			return time.Time{}, fmt.Errorf("no event with the new data within %s", timeout)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return time.Time{}, fmt.Errorf("watch closed")
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == name && cm.Data["value"] == stamp {
				return time.Now(), nil
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
