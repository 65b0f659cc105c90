package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestClient_Requests(t *testing.T) {
	widgets := Resource{Group: "demo.wasm.io", Version: "v1", Resource: "widgets", Namespaced: true, Kind: "Widget"}
	cm := NewObject("", "", "d", "x")
	_ = cm.SetNestedField(map[string]string{"a": "1"}, "data")
	cm.SetResourceVersion("5")
	type widget struct {
		TypeMeta `json:",inline"`
		Metadata ObjectMeta     `json:"metadata"`
		Status   map[string]int `json:"status"`
	}

	tests := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		want APIRequest
	}{
		{
			name: "get",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Get(ctx, ConfigMaps, "d", "x")
				return err
			},
			want: APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps/x", Headers: map[string]string{"Accept": "application/json"}},
		},
		{
			name: "get bypassing the cache",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetUncached(ctx, ConfigMaps, "d", "x")
				return err
			},
			want: APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps/x",
				Headers: map[string]string{"Accept": "application/json", "Cache-Control": "no-cache"}},
		},
		{
			name: "get cluster-scoped",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Get(ctx, Namespaces, "", "team-a")
				return err
			},
			want: APIRequest{Method: "GET", Path: "/api/v1/namespaces/team-a", Headers: map[string]string{"Accept": "application/json"}},
		},
		{
			name: "list with selectors",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.List(ctx, ConfigMaps, "", LabelSelector("a=b"), FieldSelector("metadata.namespace!=kube-system"), Limit(50), Continue("tok"))
				return err
			},
			want: APIRequest{Method: "GET", Path: "/api/v1/configmaps", Query: "continue=tok&fieldSelector=metadata.namespace%21%3Dkube-system&labelSelector=a%3Db&limit=50",
				Headers: map[string]string{"Accept": "application/json"}},
		},
		{
			name: "list matching labels",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.List(ctx, widgets, "d", MatchingLabels{"z": "1", "a": "2"})
				return err
			},
			want: APIRequest{Method: "GET", Path: "/apis/demo.wasm.io/v1/namespaces/d/widgets", Query: "labelSelector=a%3D2%2Cz%3D1",
				Headers: map[string]string{"Accept": "application/json"}},
		},
		{
			name: "create fills apiVersion and kind",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Create(ctx, ConfigMaps, cm, FieldManager("test"))
				return err
			},
			want: APIRequest{Method: "POST", Path: "/api/v1/namespaces/d/configmaps", Query: "fieldManager=test",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json"},
				Body:    json.RawMessage(`{"apiVersion":"v1","data":{"a":"1"},"kind":"ConfigMap","metadata":{"name":"x","namespace":"d","resourceVersion":"5"}}`)},
		},
		{
			name: "update",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Update(ctx, ConfigMaps, cm, DryRun)
				return err
			},
			want: APIRequest{Method: "PUT", Path: "/api/v1/namespaces/d/configmaps/x", Query: "dryRun=All",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json"},
				Body:    json.RawMessage(`{"apiVersion":"v1","data":{"a":"1"},"kind":"ConfigMap","metadata":{"name":"x","namespace":"d","resourceVersion":"5"}}`)},
		},
		{
			name: "update status of a typed struct",
			call: func(ctx context.Context, c *Client) error {
				w := widget{TypeMeta{"demo.wasm.io/v1", "Widget"}, ObjectMeta{Name: "w", Namespace: "d"}, map[string]int{"readyReplicas": 2}}
				_, err := c.UpdateStatus(ctx, widgets, w)
				return err
			},
			want: APIRequest{Method: "PUT", Path: "/apis/demo.wasm.io/v1/namespaces/d/widgets/w/status",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json"},
				Body:    json.RawMessage(`{"apiVersion":"demo.wasm.io/v1","kind":"Widget","metadata":{"name":"w","namespace":"d"},"status":{"readyReplicas":2}}`)},
		},
		{
			name: "merge patch from a map",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Patch(ctx, ConfigMaps, "d", "x", MergePatch, map[string]any{"data": map[string]string{"x": "1"}})
				return err
			},
			want: APIRequest{Method: "PATCH", Path: "/api/v1/namespaces/d/configmaps/x",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/merge-patch+json"},
				Body:    json.RawMessage(`{"data":{"x":"1"}}`)},
		},
		{
			name: "strategic merge patch from a string",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Patch(ctx, Deployments, "web", "api", StrategicMergePatch, `{"spec":{"replicas":2}}`)
				return err
			},
			want: APIRequest{Method: "PATCH", Path: "/apis/apps/v1/namespaces/web/deployments/api",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/strategic-merge-patch+json"},
				Body:    json.RawMessage(`{"spec":{"replicas":2}}`)},
		},
		{
			name: "apply patch with field manager and force",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Patch(ctx, ConfigMaps, "d", "x", ApplyPatch, []byte(`{"apiVersion":"v1","kind":"ConfigMap"}`), FieldManager("replicator"), Force)
				return err
			},
			want: APIRequest{Method: "PATCH", Path: "/api/v1/namespaces/d/configmaps/x", Query: "fieldManager=replicator&force=true",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/apply-patch+yaml"},
				Body:    json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap"}`)},
		},
		{
			name: "json patch of status",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PatchStatus(ctx, widgets, "d", "w", JSONPatch, json.RawMessage(`[{"op":"replace","path":"/status/readyReplicas","value":1}]`))
				return err
			},
			want: APIRequest{Method: "PATCH", Path: "/apis/demo.wasm.io/v1/namespaces/d/widgets/w/status",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json-patch+json"},
				Body:    json.RawMessage(`[{"op":"replace","path":"/status/readyReplicas","value":1}]`)},
		},
		{
			name: "delete",
			call: func(ctx context.Context, c *Client) error {
				return c.Delete(ctx, ConfigMaps, "d", "x")
			},
			want: APIRequest{Method: "DELETE", Path: "/api/v1/namespaces/d/configmaps/x", Headers: map[string]string{"Accept": "application/json"}},
		},
		{
			name: "delete with options",
			call: func(ctx context.Context, c *Client) error {
				return c.Delete(ctx, ConfigMaps, "d", "x", DeleteForeground, Preconditions{UID: "u1"})
			},
			want: APIRequest{Method: "DELETE", Path: "/api/v1/namespaces/d/configmaps/x",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json"},
				Body:    json.RawMessage(`{"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Foreground","preconditions":{"uid":"u1"}}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{}
			if err := tt.call(t.Context(), NewClientFor(api)); err != nil {
				t.Fatal(err)
			}
			if len(api.requests) != 1 {
				t.Fatalf("made %d requests, want 1", len(api.requests))
			}
			got := *api.last()
			if got.Method != tt.want.Method || got.Path != tt.want.Path || got.Query != tt.want.Query ||
				!reflect.DeepEqual(got.Headers, tt.want.Headers) || string(got.Body) != string(tt.want.Body) {
				t.Errorf("request =\n %+v\n body %s\nwant\n %+v\n body %s", got, got.Body, tt.want, tt.want.Body)
			}
		})
	}
	if cm.GetKind() != "" {
		t.Errorf("Create changed the caller's object: kind %q", cm.GetKind())
	}
}

func TestClient_Refused(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *Client) error
	}{
		{name: "namespace of a cluster-scoped resource", call: func(ctx context.Context, c *Client) error {
			_, err := c.Get(ctx, Namespaces, "x", "y")
			return err
		}},
		{name: "get without a namespace", call: func(ctx context.Context, c *Client) error {
			_, err := c.Get(ctx, ConfigMaps, "", "y")
			return err
		}},
		{name: "get without a name", call: func(ctx context.Context, c *Client) error {
			_, err := c.Get(ctx, ConfigMaps, "d", "")
			return err
		}},
		{name: "name with a slash", call: func(ctx context.Context, c *Client) error {
			return c.Delete(ctx, ConfigMaps, "d", "a/../b")
		}},
		{name: "create without a namespace", call: func(ctx context.Context, c *Client) error {
			_, err := c.Create(ctx, ConfigMaps, NewObject("v1", "ConfigMap", "", "x"))
			return err
		}},
		{name: "patch that is not JSON", call: func(ctx context.Context, c *Client) error {
			_, err := c.Patch(ctx, ConfigMaps, "d", "x", MergePatch, []byte("data: {}"))
			return err
		}},
		{name: "patch without a type", call: func(ctx context.Context, c *Client) error {
			_, err := c.Patch(ctx, ConfigMaps, "d", "x", "", []byte("{}"))
			return err
		}},
		{name: "empty resource", call: func(ctx context.Context, c *Client) error {
			_, err := c.List(ctx, Resource{}, "")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{}
			if err := tt.call(t.Context(), NewClientFor(api)); err == nil {
				t.Errorf("succeeded")
			}
			if len(api.requests) != 0 {
				t.Errorf("made %d requests", len(api.requests))
			}
		})
	}
}

func TestClient_Responses(t *testing.T) {
	api := &fakeAPI{respond: func(req *APIRequest) (*APIResponse, error) {
		switch req.Path {
		case "/api/v1/namespaces/d/configmaps/missing":
			return &APIResponse{Status: 404, Body: []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","message":"configmaps \"missing\" not found","code":404}`)}, nil
		case "/api/v1/namespaces/d/configmaps/down":
			return nil, E2BIG
		case "/api/v1/configmaps":
			return &APIResponse{Status: 200, Body: []byte(`{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":"77","continue":"next"},` +
				`"items":[{"metadata":{"name":"a","namespace":"x"},"big":9007199254740993},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"y"}}]}`)}, nil
		case "/api/v1/namespaces/null/configmaps":
			return &APIResponse{Status: 200, Body: []byte(`{"apiVersion":"v1","kind":"ConfigMapList","items":[{"metadata":{"name":"a"}},null]}`)}, nil
		case "/api/v1/namespaces/d/configmaps/gone":
			return &APIResponse{Status: 200, Body: []byte(`{"kind":"Status","apiVersion":"v1","status":"Success"}`)}, nil
		}
		return &APIResponse{Status: 200, Body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"d"}}`)}, nil
	}}
	c := NewClientFor(api)
	ctx := t.Context()

	obj, err := c.Get(ctx, ConfigMaps, "d", "x")
	if err != nil || obj.GetName() != "x" {
		t.Errorf("Get = %v, %v", obj, err)
	}

	_, err = c.Get(ctx, ConfigMaps, "d", "missing")
	var se *StatusError
	if !IsNotFound(err) || !errors.As(err, &se) || se.Message != `configmaps "missing" not found` {
		t.Errorf("Get(missing) error = %v, want NotFound", err)
	}

	_, err = c.Get(ctx, ConfigMaps, "d", "down")
	if !errors.Is(err, E2BIG) || IsNotFound(err) {
		t.Errorf("Get(down) error = %v, want E2BIG", err)
	}

	list, err := c.List(ctx, ConfigMaps, "")
	if err != nil {
		t.Fatal(err)
	}
	if list.ResourceVersion != "77" || list.Continue != "next" || len(list.Items) != 2 {
		t.Fatalf("List = %+v", list)
	}
	for _, item := range list.Items {
		if item.GetAPIVersion() != "v1" || item.GetKind() != "ConfigMap" {
			t.Errorf("item %s has apiVersion %q kind %q", item.GetName(), item.GetAPIVersion(), item.GetKind())
		}
	}
	// Numbers stay as written, as in an Object decoded alone.
	if big, ok := list.Items[0].Object["big"].(json.Number); !ok || big.String() != "9007199254740993" {
		t.Errorf("item a's number = %#v, want json.Number 9007199254740993", list.Items[0].Object["big"])
	}
	if _, err := c.List(ctx, ConfigMaps, "null"); err == nil || !strings.Contains(err.Error(), "item 1") {
		t.Errorf("List with a null item: error %v, want one naming the item", err)
	}
	var typed []struct {
		Metadata ObjectMeta `json:"metadata"`
	}
	if err := list.Into(&typed); err != nil || len(typed) != 2 || typed[1].Metadata.Namespace != "y" {
		t.Errorf("ObjectList.Into = %+v, %v", typed, err)
	}

	if err := c.Delete(ctx, ConfigMaps, "d", "gone"); err != nil {
		t.Errorf("Delete = %v", err)
	}
	if err := c.Delete(ctx, ConfigMaps, "d", "missing"); !IsNotFound(err) {
		t.Errorf("Delete(missing) = %v, want NotFound", err)
	}
}

func TestClient_CancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := NewClient().Get(ctx, ConfigMaps, "d", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v", err)
	}
	if _, err := NewClient().Get(t.Context(), ConfigMaps, "d", "x"); !errors.Is(err, ErrNotInGuest) {
		t.Errorf("Get outside a guest = %v, want ErrNotInGuest", err)
	}
}
