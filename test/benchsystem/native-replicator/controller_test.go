package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
)

func namespace(name string, lbls map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
}

// TestController_Replicates checks the life of one copy: created in the
// target namespace of the controller's set only, updated with its source,
// deleted with it.
func TestController_Replicates(t *testing.T) {
	src := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "src", Name: "settings", Labels: map[string]string{sourceLabel: "true"}},
		Data:       map[string]string{"k": "v"},
	}
	client := fake.NewClientset(
		namespace("src", map[string]string{"set": "a"}),
		namespace("dst", map[string]string{"set": "a", targetLabel: "true"}),
		namespace("other", map[string]string{"set": "b", targetLabel: "true"}),
		src,
	)
	c := newController(client, []string{"src", "dst", "other"}, "set=a", 0)
	go func() { _ = c.Run(t.Context()) }()

	copyData := func(ns string) (map[string]string, error) {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(t.Context(), "settings", metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if got := cm.Labels[copyLabel]; got != "src.settings" {
			t.Errorf("copy label = %q, want src.settings", got)
		}
		return cm.Data, nil
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true,
			func(context.Context) (bool, error) { return cond(), nil })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	eventually("copy created", func() bool {
		data, err := copyData("dst")
		return err == nil && cmp.Equal(data, src.Data)
	})
	if _, err := copyData("other"); !apierrors.IsNotFound(err) {
		t.Errorf("copy in a namespace outside the selector: err = %v, want NotFound", err)
	}

	src.Data = map[string]string{"k": "v2"}
	if _, err := client.CoreV1().ConfigMaps("src").Update(t.Context(), src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("copy updated", func() bool {
		data, err := copyData("dst")
		return err == nil && cmp.Equal(data, src.Data)
	})

	if err := client.CoreV1().ConfigMaps("src").Delete(t.Context(), "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("copy deleted", func() bool {
		_, err := copyData("dst")
		return apierrors.IsNotFound(err)
	})
}

func TestSplitRef(t *testing.T) {
	tests := []struct {
		ref, ns, name string
		ok            bool
	}{
		{"a.b", "a", "b", true},
		{"a.b.c", "a", "b.c", true},
		{"ab", "", "", false},
		{".b", "", "b", false},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			ns, name, ok := splitRef(tt.ref)
			if ok != tt.ok || (ok && (ns != tt.ns || name != tt.name)) {
				t.Errorf("splitRef(%q) = %q, %q, %v; want %q, %q, %v", tt.ref, ns, name, ok, tt.ns, tt.name, tt.ok)
			}
		})
	}
}
