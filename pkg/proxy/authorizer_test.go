package proxy

import (
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestAuthorizer_AllowedVerbs(t *testing.T) {
	kube := fake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		// May list ConfigMaps in a and b, and watch them only in a.
		sar.Status.Allowed = ra.Resource == "configmaps" && (ra.Namespace == "a" || ra.Namespace == "b" && ra.Verb == "list")
		return true, sar, nil
	})
	authz := NewAuthorizer(kube)
	tests := []struct {
		namespace string
		verbs     []string
		want      bool
	}{
		{"a", []string{"list", "watch"}, true},
		{"b", []string{"list", "watch"}, false},
		{"b", []string{"list"}, true},
		{"c", []string{"list", "watch"}, false},
		{"c", nil, true},
	}
	for _, tt := range tests {
		got, err := authz.AllowedVerbs(t.Context(), "system:serviceaccount:a:sa", configMaps, tt.namespace, tt.verbs...)
		if err != nil || got != tt.want {
			t.Errorf("AllowedVerbs(%s, %v) = %v, %v; want %v", tt.namespace, tt.verbs, got, err, tt.want)
		}
	}
}
