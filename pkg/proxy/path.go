package proxy

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// namespaceSubresources are the subresources of namespaces.
var namespaceSubresources = sets.New("status", "finalize")

// apiPath is a parsed Kubernetes REST path.
type apiPath struct {
	Resource    schema.GroupVersionResource
	Namespace   string
	Name        string
	Subresource string
}

// parseAPIPath parses /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] and
// /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUB]]. A path naming a
// namespace object itself (/api/v1/namespaces/NAME) is the namespaces
// resource, and so are its status and finalize subresources. ok is false
// for anything else.
func parseAPIPath(path string) (p apiPath, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		p.Resource.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		p.Resource.Group, p.Resource.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return p, false
	}
	// /api/v1/namespaces/NAME/status and .../finalize are subresources of
	// a namespace, as the API server reads them.
	if len(parts) >= 3 && parts[0] == "namespaces" && !namespaceSubresources.Has(parts[2]) {
		p.Namespace, parts = parts[1], parts[2:]
	}
	for _, s := range parts {
		if s == "" {
			return p, false
		}
	}
	switch len(parts) {
	case 1:
		p.Resource.Resource = parts[0]
	case 2:
		p.Resource.Resource, p.Name = parts[0], parts[1]
	case 3:
		p.Resource.Resource, p.Name, p.Subresource = parts[0], parts[1], parts[2]
	default:
		return p, false
	}
	return p, true
}
