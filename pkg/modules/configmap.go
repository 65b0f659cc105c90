package modules

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// fromConfigMap reads the module of wc's spec.module.configMapRef, as wc's
// ServiceAccount, gunzipping it when it is gzip-compressed. ConfigMaps are
// read from the cluster every time: they are small and the cluster already
// stores them.
func (f *Fetcher) fromConfigMap(ctx context.Context, wc *v1alpha1.WasmController) ([]byte, error) {
	namespace, ref := wc.Namespace, wc.Spec.Module.ConfigMapRef
	kube, user, err := f.serviceAccount(wc, "configMapRef")
	if err != nil {
		return nil, err
	}
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, transient(ReasonConfigMapNotFound, fmt.Sprintf(
			"configmap %s/%s not found (a Go module of several MB exceeds a ConfigMap's 1 MiB: gzip it into binaryData, "+
				"and create it with kubectl apply --server-side or kubectl create, which keep no second copy; "+
				"or publish it as an image)", namespace, ref.Name), err)
	case apierrors.IsForbidden(err):
		return nil, forbidden("configmap", namespace, ref.Name, user, err)
	case err != nil:
		return nil, transient(ReasonFetchFailed, fmt.Sprintf("reading configmap %s/%s as %s failed", namespace, ref.Name, user), err)
	}
	b, ok := cm.BinaryData[ref.Key]
	if !ok {
		s, inData := cm.Data[ref.Key]
		if !inData {
			return nil, transient(ReasonKeyNotFound, fmt.Sprintf("configmap %s/%s has no key %q in binaryData or data", namespace, ref.Name, ref.Key), nil)
		}
		b = []byte(s)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	bad := func(err error) error {
		return permanent(ReasonInvalidModule, fmt.Sprintf("configmap %s/%s key %q: bad gzip: %v", namespace, ref.Name, ref.Key, err), err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, bad(err)
	}
	out := bytes.NewBuffer(make([]byte, 0, gunzippedSizeHint(b, f.cfg.MaxModuleBytes)+bytes.MinRead))
	if _, err := out.ReadFrom(io.LimitReader(zr, f.cfg.MaxModuleBytes+1)); err != nil {
		return nil, bad(err)
	}
	if int64(out.Len()) > f.cfg.MaxModuleBytes {
		return nil, tooLarge(int64(out.Len()), f.cfg.MaxModuleBytes)
	}
	return out.Bytes(), nil
}

// gunzippedSizeHint is the size gzip data says it decompresses to, from its
// trailer, bounded by limit: allocating it at once rather than growing a
// buffer spares the host several times a module's size in garbage on every
// controller start. The trailer is only a hint (it is the size modulo 4 GiB,
// of the last member only); the reader still enforces limit.
func gunzippedSizeHint(gz []byte, limit int64) int64 {
	if len(gz) < 4 {
		return 0
	}
	return min(int64(binary.LittleEndian.Uint32(gz[len(gz)-4:])), limit)
}

// forbidden says that user may not get the object kind namespace/name. It is
// retried: a grant fixes it without a change of the spec.
func forbidden(kind, namespace, name, user string, err error) *Error {
	return transient(ReasonForbidden, fmt.Sprintf(
		"%s may not get %s %s/%s: grant spec.serviceAccountName get on it (a Role and RoleBinding), or name another %s",
		user, kind, namespace, name, kind), err)
}
