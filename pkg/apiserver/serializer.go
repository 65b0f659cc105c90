package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// withoutProtobuf serves the API group in every media type of its codecs
// but protobuf: WasmControllers have no protobuf encoding. A client that
// prefers protobuf and accepts JSON, as kube-controller-manager's metadata
// client does for namespace deletion and garbage collection, then gets
// JSON; offered protobuf, it would be refused (406) when the server finds
// a WasmControllerList cannot be encoded. kube-apiserver serves custom
// resources the same way.
type withoutProtobuf struct {
	runtime.NegotiatedSerializer
	types []runtime.SerializerInfo
}

// newWithoutProtobuf wraps s, whose media types are filtered once: content
// negotiation asks for them on every request.
func newWithoutProtobuf(s runtime.NegotiatedSerializer) withoutProtobuf {
	all := s.SupportedMediaTypes()
	kept := make([]runtime.SerializerInfo, 0, len(all))
	for _, info := range all {
		if info.MediaType != runtime.ContentTypeProtobuf {
			kept = append(kept, info)
		}
	}
	return withoutProtobuf{NegotiatedSerializer: s, types: kept}
}

// SupportedMediaTypes implements runtime.NegotiatedSerializer.
func (s withoutProtobuf) SupportedMediaTypes() []runtime.SerializerInfo {
	return s.types
}
