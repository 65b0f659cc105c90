package host

import (
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// fakeRBAC answers SubjectAccessReviews from a set of allowed
// "user verb resource namespace" lines, and can change its mind.
type fakeRBAC struct {
	mu      sync.Mutex
	allowed map[string]bool
	asked   int
}

func (f *fakeRBAC) allow(user, verb, resource, namespace string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allowed[strings.Join([]string{user, verb, resource, namespace}, " ")] = true
}

func (f *fakeRBAC) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.allowed)
}

func (f *fakeRBAC) client() *kubefake.Clientset {
	client := kubefake.NewSimpleClientset()
	client.PrependReactor("create", "subjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		sar := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		r := sar.Spec.ResourceAttributes
		f.mu.Lock()
		defer f.mu.Unlock()
		f.asked++
		sar.Status.Allowed = f.allowed[strings.Join([]string{sar.Spec.User, r.Verb, r.Resource, r.Namespace}, " ")]
		return true, sar, nil
	})
	return client
}

// testMapper maps Secrets and Namespaces, as discovery would.
type testMapper struct{ meta.RESTMapper }

func (testMapper) Reset() {}

func newTestMapper() testMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	return testMapper{m}
}

const tenantSA = "system:serviceaccount:tenant:ctl"

// TestHost_StartRefusesForbiddenWatch: a watch whose ServiceAccount may
// not list and watch what it reads, in its scope, stops the load before
// any informer is subscribed or module fetched, and says which watch,
// verb, resource, scope and user in WatchesReady, Ready and an Event.
func TestHost_StartRefusesForbiddenWatch(t *testing.T) {
	tests := []struct {
		name    string
		watch   v1alpha1.Watch
		allowed [][4]string
		wantMsg string
	}{
		{name: "no rights in the watched namespace",
			watch:   v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Namespace: "kube-system", Enqueue: "['kube-system/' + object.data.password]"},
			allowed: [][4]string{{tenantSA, "list", "secrets", "tenant"}, {tenantSA, "watch", "secrets", "tenant"}},
			wantMsg: `spec.watches[1]: user "system:serviceaccount:tenant:ctl" may not list secrets in namespace kube-system`},
		{name: "list but not watch",
			watch:   v1alpha1.Watch{APIVersion: "v1", Kind: "Secret", Namespace: "kube-system"},
			allowed: [][4]string{{tenantSA, "list", "secrets", "kube-system"}},
			wantMsg: `may not watch secrets in namespace kube-system`},
		{name: "every namespace needs cluster-wide rights",
			watch:   v1alpha1.Watch{APIVersion: "v1", Kind: "Secret"},
			allowed: [][4]string{{tenantSA, "list", "secrets", "tenant"}, {tenantSA, "watch", "secrets", "tenant"}},
			wantMsg: `may not list secrets in all namespaces`},
		{name: "cluster-scoped resource",
			watch:   v1alpha1.Watch{APIVersion: "v1", Kind: "Namespace"},
			wantMsg: `may not list namespaces` + "\x00"}, // no scope after the resource
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rbac := &fakeRBAC{allowed: map[string]bool{}}
			rbac.allow(tenantSA, "list", "secrets", "tenant")
			rbac.allow(tenantSA, "watch", "secrets", "tenant")
			for _, a := range tt.allowed {
				rbac.allow(a[0], a[1], a[2], a[3])
			}
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "c", Generation: 1},
				Spec: v1alpha1.WasmControllerSpec{ServiceAccountName: "ctl", Module: v1alpha1.ModuleSource{Inline: []byte("not wasm")},
					Watches: []v1alpha1.Watch{{APIVersion: "v1", Kind: "Secret", Namespace: "tenant"}, tt.watch}}}
			h, client, recorder, pool := accessTestHost(t, rbac, wc)

			c, err := h.start(t.Context(), wc)
			if c != nil || !isForbiddenWatch(err) {
				t.Fatalf("start = %v, %v; want a forbidden watch", c, err)
			}
			if n := pool.Len(); n != 0 {
				t.Errorf("%d informers subscribed, want none", n)
			}
			got, err := client.ControllersV1alpha1().WasmControllers("tenant").Get(t.Context(), "c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSuffix(tt.wantMsg, "\x00")
			for _, typ := range []string{v1alpha1.ConditionWatchesReady, v1alpha1.ConditionReady} {
				cond := meta.FindStatusCondition(got.Status.Conditions, typ)
				if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != ReasonWatchForbidden || !strings.Contains(cond.Message, want) {
					t.Errorf("%s = %+v, want False %s saying %q", typ, cond, ReasonWatchForbidden, want)
				} else if strings.HasSuffix(tt.wantMsg, "\x00") && !strings.HasSuffix(cond.Message, want) {
					t.Errorf("%s message %q: a cluster-scoped resource has no namespace scope", typ, cond.Message)
				}
			}
			if cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionModuleLoaded); cond != nil {
				t.Errorf("ModuleLoaded = %+v: the module was fetched", cond)
			}
			select {
			case e := <-recorder.Events:
				if !strings.HasPrefix(e, "Warning "+ReasonWatchForbidden+" ") || !strings.Contains(e, want) {
					t.Errorf("Event %q, want a Warning %s saying %q", e, ReasonWatchForbidden, want)
				}
			default:
				t.Error("no Event recorded")
			}
		})
	}
}

func accessTestHost(t *testing.T, rbac *fakeRBAC, wc *v1alpha1.WasmController) (*Host, *fake.Clientset, *record.FakeRecorder, *proxy.InformerPool) {
	t.Helper()
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := modules.OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	pool := proxy.NewInformerPool(dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{secrets: "SecretList"}))
	client := fake.NewSimpleClientset(wc)
	recorder := record.NewFakeRecorder(10)
	clock := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	h := newTestHost(Config{Controllers: client, Cluster: &rest.Config{}},
		testServices{clock: clock, recorder: recorder, dispatcher: newDispatcher(pool)})
	h.compiler, h.mapper, h.authorizer, h.informers = compiler, newTestMapper(), proxy.NewAuthorizer(rbac.client()), pool
	h.fetcher = modules.NewFetcher(modules.FetcherConfig{Store: store})
	t.Cleanup(h.queue.ShutDown)
	return h, client, recorder, pool
}

// TestHost_RecheckAccess: when RBAC takes a running controller's right to
// read what it watches, its events stop at once and it is reloaded (which
// reports why); a controller refused before is loaded again on any RBAC
// change, to run if it may now.
func TestHost_RecheckAccess(t *testing.T) {
	rbac := &fakeRBAC{allowed: map[string]bool{}}
	const user = "system:serviceaccount:ns:"
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	h, _, _, _ := accessTestHost(t, rbac, wc)
	c := testController(t, &h.hostServices, "running")
	w := testWatch(t, secrets, "")
	w.key.Namespace = "kube-system"
	c.watches = []*watch{w}
	h.controllers[c.name] = c
	h.noteRefusal("ns/refused", &forbiddenWatchError{})
	rbac.allow(user, "list", "secrets", "kube-system")
	rbac.allow(user, "watch", "secrets", "kube-system")

	h.recheckAccess(t.Context())
	if c.revoked.Load() {
		t.Fatal("a controller that may read what it watches was revoked")
	}
	if got := drainLoads(h); !cmpStrings(got, []string{"ns/refused"}) {
		t.Errorf("loads queued %v, want the refused controller only", got)
	}

	rbac.revokeAll()
	h.authorizer.Forget() // as on an RBAC change
	h.recheckAccess(t.Context())
	if !c.revoked.Load() {
		t.Fatal("a controller that may no longer read what it watches still receives events")
	}
	if got := drainLoads(h); !cmpStrings(got, []string{"ns/refused", "ns/running"}) {
		t.Errorf("loads queued %v, want both controllers", got)
	}
	c.deliver(w, newEvent("ADDED", configMap("leak", nil, map[string]any{"password": "hunter2"}), nil))
	c.resync()
	waitFor(t, "the resync", c.idle)
	if got := queued(c); got != nil {
		t.Errorf("a revoked controller was woken for %v", got)
	}
}

func drainLoads(h *Host) []string {
	var keys []string
	for h.queue.Len() > 0 {
		k, _ := h.queue.Get()
		h.queue.Done(k)
		keys = append(keys, k)
	}
	return keys
}

func cmpStrings(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}
