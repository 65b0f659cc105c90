package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// Cluster is an in-memory Kubernetes API. It is safe for concurrent use.
type Cluster struct {
	// Now is the clock that sets creationTimestamp; time.Now by default.
	Now func() time.Time
	// Intercept, when set, sees every request first; a non-nil response is
	// returned instead of serving the request, to inject errors.
	Intercept func(req *sdk.APIRequest) *sdk.APIResponse

	mu       sync.Mutex
	objects  map[string]map[string]any // by "group/resource/namespace/name"
	kinds    map[string]string         // the kind of each "group/resource" stored
	rv       int64
	requests []sdk.APIRequest
}

var _ sdk.API = (*Cluster)(nil)

// NewCluster returns a Cluster holding objs, each an *sdk.Object or struct
// with apiVersion, kind and metadata, stored under the resource its kind
// implies (lowercase plural). It fails t when an object cannot be stored.
func NewCluster(t testing.TB, objs ...any) *Cluster {
	t.Helper()
	c := &Cluster{Now: time.Now, objects: map[string]map[string]any{}, kinds: map[string]string{}}
	for _, obj := range objs {
		if err := c.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Add stores obj under the resource its kind implies, as Create would.
func (c *Cluster) Add(obj any) error {
	o, err := sdk.ObjectFrom(obj)
	if err != nil {
		return err
	}
	r, err := resourceOf(o)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.create(r, o.GetNamespace(), o.DeepCopy().Object)
	if err != nil {
		return fmt.Errorf("adding %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// Get returns a copy of a stored object, or nil.
func (c *Cluster) Get(r sdk.Resource, namespace, name string) *sdk.Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.objects[key(r.Group, r.Resource, namespace, name)]
	if !ok {
		return nil
	}
	return (&sdk.Object{Object: o}).DeepCopy()
}

// List returns copies of the stored objects of r in namespace (all
// namespaces when empty), sorted by namespace and name.
func (c *Cluster) List(r sdk.Resource, namespace string) []*sdk.Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := r.Group + "/" + r.Resource + "/"
	if namespace != "" {
		prefix += namespace + "/"
	}
	var out []*sdk.Object
	for _, k := range slices.Sorted(maps.Keys(c.objects)) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, (&sdk.Object{Object: c.objects[k]}).DeepCopy())
		}
	}
	return out
}

// Requests returns the requests served so far.
func (c *Cluster) Requests() []sdk.APIRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// Writes returns the requests served so far that were not GETs, as
// "METHOD path" strings, for asserting what a reconcile changed.
func (c *Cluster) Writes() []string {
	var out []string
	for _, r := range c.Requests() {
		if r.Method != "GET" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// Do implements sdk.API.
func (c *Cluster) Do(ctx context.Context, req *sdk.APIRequest) (*sdk.APIResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.requests = append(c.requests, *req)
	intercept := c.Intercept
	c.mu.Unlock()
	if intercept != nil {
		if resp := intercept(req); resp != nil {
			return resp, nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serve(req), nil
}

// key is the storage key of an object; namespace and name may be empty
// for a prefix.
func key(group, resource, namespace, name string) string {
	return group + "/" + resource + "/" + namespace + "/" + name
}

// resourceOf guesses the resource of an object from its kind.
func resourceOf(o *sdk.Object) (sdk.Resource, error) {
	kind := o.GetKind()
	if kind == "" || o.GetAPIVersion() == "" {
		return sdk.Resource{}, fmt.Errorf("object %q has no apiVersion or kind", o.GetName())
	}
	group, version, ok := strings.Cut(o.GetAPIVersion(), "/")
	if !ok {
		group, version = "", group
	}
	plural := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(plural, "s"):
		plural += "es"
	case strings.HasSuffix(plural, "y"):
		plural = strings.TrimSuffix(plural, "y") + "ies"
	default:
		plural += "s"
	}
	return sdk.Resource{Group: group, Version: version, Resource: plural, Namespaced: o.GetNamespace() != "", Kind: kind}, nil
}

// nextRV returns a new resourceVersion.
func (c *Cluster) nextRV() string {
	c.rv++
	return strconv.FormatInt(c.rv, 10)
}

func copyMap(m map[string]any) map[string]any {
	return (&sdk.Object{Object: m}).DeepCopy().Object
}

func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
