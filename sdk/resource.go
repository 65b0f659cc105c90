package sdk

import "strings"

// Resource names a Kubernetes API resource, such as configmaps in the core
// group or deployments in apps/v1. It is what REST paths are built from.
type Resource struct {
	// Group is the API group, "" for the core group.
	Group string
	// Version is the API version, such as "v1".
	Version string
	// Resource is the plural resource name, such as "configmaps".
	Resource string
	// Namespaced is true for resources that live in a namespace.
	Namespaced bool
	// Kind is the kind of the resource's objects, such as "ConfigMap". It is
	// optional; when set, objects written without apiVersion and kind get them.
	Kind string
}

// Resources of the core and apps groups that controllers commonly use.
var (
	ConfigMaps  = Resource{Version: "v1", Resource: "configmaps", Namespaced: true, Kind: "ConfigMap"}
	Secrets     = Resource{Version: "v1", Resource: "secrets", Namespaced: true, Kind: "Secret"}
	Namespaces  = Resource{Version: "v1", Resource: "namespaces", Kind: "Namespace"}
	Pods        = Resource{Version: "v1", Resource: "pods", Namespaced: true, Kind: "Pod"}
	Services    = Resource{Version: "v1", Resource: "services", Namespaced: true, Kind: "Service"}
	Deployments = Resource{Group: "apps", Version: "v1", Resource: "deployments", Namespaced: true, Kind: "Deployment"}
	Events      = Resource{Version: "v1", Resource: "events", Namespaced: true, Kind: "Event"}
)

// APIVersion returns the resource's apiVersion: "version" for the core group,
// "group/version" for the others.
func (r Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// String returns "resource.group/version", or "resource/version" in the core group.
func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource + "/" + r.Version
	}
	return r.Resource + "." + r.Group + "/" + r.Version
}

// Path returns the REST path of the resource: the collection when name is
// empty, else the named object, and its subresource (such as "status") when
// subresource is not empty. The core group is under /api/v1, the others
// under /apis/<group>/<version>. A namespace is part of the path only when
// the resource is namespaced and namespace is not empty; a namespaced
// collection without one lists across all namespaces.
//
// The path is not percent-encoded: the host encodes it.
func (r Resource) Path(namespace, name, subresource string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/")
		b.WriteString(r.Group)
		b.WriteByte('/')
	}
	b.WriteString(r.Version)
	if r.Namespaced && namespace != "" {
		b.WriteString("/namespaces/")
		b.WriteString(namespace)
	}
	b.WriteByte('/')
	b.WriteString(r.Resource)
	if name != "" {
		b.WriteByte('/')
		b.WriteString(name)
		if subresource != "" {
			b.WriteByte('/')
			b.WriteString(subresource)
		}
	}
	return b.String()
}
