package controllerruntime

import (
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// builtinClusterScoped are the cluster-scoped kinds of Kubernetes' own API
// groups. Every other kind is namespaced unless NewRESTMapper is told
// otherwise.
var builtinClusterScoped = []schema.GroupKind{
	{Group: "", Kind: "Namespace"},
	{Group: "", Kind: "Node"},
	{Group: "", Kind: "PersistentVolume"},
	{Group: "", Kind: "ComponentStatus"},
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"},
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"},
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"},
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"},
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"},
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"},
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
	{Group: "apiregistration.k8s.io", Kind: "APIService"},
	{Group: "authentication.k8s.io", Kind: "TokenReview"},
	{Group: "authentication.k8s.io", Kind: "SelfSubjectReview"},
	{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"},
	{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"},
	{Group: "authorization.k8s.io", Kind: "SelfSubjectRulesReview"},
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"},
	{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle"},
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"},
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"},
	{Group: "internal.apiserver.k8s.io", Kind: "StorageVersion"},
	{Group: "networking.k8s.io", Kind: "IngressClass"},
	{Group: "networking.k8s.io", Kind: "IPAddress"},
	{Group: "networking.k8s.io", Kind: "ServiceCIDR"},
	{Group: "node.k8s.io", Kind: "RuntimeClass"},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"},
	{Group: "resource.k8s.io", Kind: "DeviceClass"},
	{Group: "resource.k8s.io", Kind: "DeviceTaintRule"},
	{Group: "resource.k8s.io", Kind: "ResourceSlice"},
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"},
	{Group: "storage.k8s.io", Kind: "CSIDriver"},
	{Group: "storage.k8s.io", Kind: "CSINode"},
	{Group: "storage.k8s.io", Kind: "StorageClass"},
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"},
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"},
	{Group: "storagemigration.k8s.io", Kind: "StorageVersionMigration"},
}

// NewRESTMapper returns a RESTMapper for the kinds registered in scheme,
// built without discovery, which the host does not serve to guests.
//
// Each kind with object metadata (not lists, options or events of the API
// machinery) maps to the lowercase plural of its kind, as kubebuilder names
// the resources of the kinds it generates (Memcached → memcacheds), and is
// namespaced unless it is one of Kubernetes' own cluster-scoped kinds
// (Namespace, ClusterRole, ...) or named in clusterScoped.
//
// # Notes
//
// A custom resource whose plural is not the guessed one (a CRD with
// `plural: mice` for kind Mouse) needs its own mapping: call AddSpecific on
// the returned mapper before passing it to client.New, or register the kind
// under the plural its CRD declares.
func NewRESTMapper(scheme *runtime.Scheme, clusterScoped ...schema.GroupKind) *meta.DefaultRESTMapper {
	mapper := meta.NewDefaultRESTMapper(scheme.PrioritizedVersionsAllGroups())
	gvks := make([]schema.GroupVersionKind, 0, len(scheme.AllKnownTypes()))
	for gvk, t := range scheme.AllKnownTypes() {
		if isResourceKind(gvk, t) {
			gvks = append(gvks, gvk)
		}
	}
	// Added in a fixed order, so that the mapper's answers do not depend on
	// the order of a map.
	slices.SortFunc(gvks, func(a, b schema.GroupVersionKind) int {
		return strings.Compare(a.String(), b.String())
	})
	for _, gvk := range gvks {
		scope := meta.RESTScopeNamespace
		if gk := gvk.GroupKind(); slices.Contains(builtinClusterScoped, gk) || slices.Contains(clusterScoped, gk) {
			scope = meta.RESTScopeRoot
		}
		plural, singular := meta.UnsafeGuessKindToResource(gvk)
		mapper.AddSpecific(gvk, plural, singular, scope)
	}
	return mapper
}

// isResourceKind says whether a kind registered in a scheme is served as a
// resource of its own: a versioned kind with object metadata that is not a
// list.
func isResourceKind(gvk schema.GroupVersionKind, t reflect.Type) bool {
	if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") {
		return false
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	_, ok := reflect.New(t).Interface().(metav1.Object)
	return ok
}
