package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/wasm-apiserver/wasm-apiserver/test/promtext"
)

// countingTransport counts the requests the harness sends to kube-apiserver,
// so that they can be told apart from the controllers'.
type countingTransport struct {
	next  http.RoundTripper
	count *atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.count.Add(1)
	return t.next.RoundTrip(r)
}

// requestMeter reads how many requests kube-apiserver served
// (apiserver_request_total, every verb and code) that neither the harness
// nor kube-apiserver's own background work sent.
type requestMeter struct {
	c *cluster
	// background is kube-apiserver's rate of requests with nothing else
	// running (its own leases and loopback clients), per second.
	background float64
}

// mark is a reading of the meter.
type mark struct {
	at      time.Time
	total   float64
	harness int64
	// by is the count of each "VERB resource[/subresource]".
	by map[string]float64
}

func (m *requestMeter) mark(ctx context.Context) (mark, error) {
	page, err := m.c.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return mark{}, err
	}
	// Read after the page: the scrape itself is counted by kube-apiserver
	// only in the next page, and by the harness already.
	a := mark{at: time.Now(), harness: m.c.requests.Load()}
	groups, err := promtext.SumBy(page, "apiserver_request_total", []string{"verb", "resource", "subresource"})
	if err != nil {
		return mark{}, err
	}
	a.by = map[string]float64{}
	for k, v := range groups {
		verb, rest, _ := strings.Cut(k, " ")
		res, sub, _ := strings.Cut(rest, " ")
		if sub != "" {
			res += "/" + sub
		}
		a.by[strings.TrimSpace(verb+" "+res)] += v
		a.total += v
	}
	return a, nil
}

// since is the requests of others than the harness and the background from
// a to now.
func (m *requestMeter) since(ctx context.Context, a mark) (float64, error) {
	n, _, err := m.sinceBy(ctx, a)
	return n, err
}

// sinceBy is since and, for the record, what kube-apiserver served from a
// to now by verb and resource, the harness's and the background's
// requests included, most first.
func (m *requestMeter) sinceBy(ctx context.Context, a mark) (float64, string, error) {
	b, err := m.mark(ctx)
	if err != nil {
		return 0, "", err
	}
	// The harness's requests between the marks include b's scrape, which
	// kube-apiserver has not counted yet, and exclude a's, which it has.
	harness := float64(b.harness - a.harness)
	n := max(0, b.total-a.total-harness-m.background*b.at.Sub(a.at).Seconds())
	type kv struct {
		k string
		v float64
	}
	var by []kv
	for k, v := range b.by {
		if d := v - a.by[k]; d > 0 {
			by = append(by, kv{k, d})
		}
	}
	slices.SortFunc(by, func(x, y kv) int { return cmp.Or(cmp.Compare(y.v, x.v), strings.Compare(x.k, y.k)) })
	var parts []string
	for _, e := range by {
		parts = append(parts, fmt.Sprintf("%s %.0f", e.k, e.v))
	}
	return n, strings.Join(parts, ", "), nil
}

// measureBackground sets the background rate from a quiet window.
func (m *requestMeter) measureBackground(ctx context.Context, window time.Duration) error {
	m.background = 0
	a, err := m.mark(ctx)
	if err != nil {
		return err
	}
	time.Sleep(window)
	n, err := m.since(ctx, a)
	if err != nil {
		return err
	}
	m.background = n / window.Seconds()
	return nil
}

// busyRate is the rate of source writes that keeps the controllers busy:
// one a second for each of the first 50, shared beyond.
func busyRate(n int) int { return min(n, 50) }

// busyWindow is how long a busy side is measured.
const busyWindow = 30 * time.Second

// busy writes the sources round the n controllers at busyRate(n) a second
// for busyWindow and samples memory once a second in the second half of it;
// it returns the largest sample and the number of writes.
func busy(ctx context.Context, client kubernetes.Interface, n int, sample func() (memory, error)) (memory, int, error) {
	tick := time.NewTicker(time.Second / time.Duration(busyRate(n)))
	defer tick.Stop()
	memTick := time.NewTicker(time.Second)
	defer memTick.Stop()
	start := time.Now()
	var peak memory
	writes := 0
	for time.Since(start) < busyWindow {
		select {
		case <-ctx.Done():
			return peak, writes, ctx.Err()
		case <-tick.C:
			patch := []byte(`{"data":{"value":"busy-` + strconv.Itoa(writes) + `"}}`)
			if _, err := client.CoreV1().ConfigMaps(srcNamespace).Patch(ctx, sourceName(writes%n),
				types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return peak, writes, err
			}
			writes++
		case <-memTick.C:
			if time.Since(start) < busyWindow/2 {
				continue
			}
			m, err := sample()
			if err != nil {
				return peak, writes, err
			}
			if m.PSS > peak.PSS {
				peak = m
			}
		}
	}
	return peak, writes, nil
}
