package host

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// MaxModuleBytes bounds a module after decompression.
const MaxModuleBytes = 256 << 20

// ModuleError says why a module could not be fetched; Reason goes into the
// ModuleLoaded condition.
type ModuleError struct {
	Reason  string
	Message string
	// Permanent errors are not retried until the spec changes.
	Permanent bool
}

func (e *ModuleError) Error() string { return e.Message }

// fetchModule returns the bytes of the WasmController's module.
func fetchModule(ctx context.Context, kube kubernetes.Interface, wc *v1alpha1.WasmController) ([]byte, error) {
	src := wc.Spec.Module
	var wasm []byte
	switch {
	case len(src.Inline) > 0:
		wasm = src.Inline
	case src.ConfigMapRef != nil:
		if kube == nil {
			return nil, &ModuleError{Reason: "NoTargetCluster", Message: "configMapRef needs a target cluster (--kubeconfig)", Permanent: true}
		}
		b, err := fromConfigMap(ctx, kube, wc.Namespace, src.ConfigMapRef)
		if err != nil {
			return nil, err
		}
		wasm = b
	case src.Image != "", src.URL != "":
		return nil, &ModuleError{Reason: "SourceNotSupported", Permanent: true,
			Message: "image and url module sources are not supported by this version yet: use inline or configMapRef"}
	default:
		return nil, &ModuleError{Reason: "NoSource", Message: "spec.module names no source", Permanent: true}
	}
	if src.SHA256 != "" {
		sum := sha256.Sum256(wasm)
		if got := hex.EncodeToString(sum[:]); got != src.SHA256 {
			return nil, &ModuleError{Reason: "DigestMismatch", Permanent: true,
				Message: fmt.Sprintf("module has sha256 %s, spec.module.sha256 wants %s: it will not run", got, src.SHA256)}
		}
	}
	return wasm, nil
}

func fromConfigMap(ctx context.Context, kube kubernetes.Interface, namespace string, ref *v1alpha1.ConfigMapKeyReference) ([]byte, error) {
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &ModuleError{Reason: "ConfigMapNotFound", Message: fmt.Sprintf(
			"configmap %s/%s not found (a Go module of several MB exceeds a ConfigMap's 1 MiB: gzip it into binaryData, "+
				"and create it with kubectl apply --server-side or kubectl create, which keep no second copy)", namespace, ref.Name)}
	}
	if err != nil {
		return nil, &ModuleError{Reason: "FetchFailed", Message: fmt.Sprintf("reading configmap %s/%s: %v", namespace, ref.Name, err)}
	}
	b, ok := cm.BinaryData[ref.Key]
	if !ok {
		s, inData := cm.Data[ref.Key]
		if !inData {
			return nil, &ModuleError{Reason: "KeyNotFound", Message: fmt.Sprintf("configmap %s/%s has no key %q in binaryData or data", namespace, ref.Name, ref.Key)}
		}
		b = []byte(s)
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, &ModuleError{Reason: "InvalidModule", Permanent: true, Message: fmt.Sprintf("configmap %s/%s key %q: bad gzip: %v", namespace, ref.Name, ref.Key, err)}
		}
		out, err := io.ReadAll(io.LimitReader(zr, MaxModuleBytes+1))
		if err != nil {
			return nil, &ModuleError{Reason: "InvalidModule", Permanent: true, Message: fmt.Sprintf("configmap %s/%s key %q: bad gzip: %v", namespace, ref.Name, ref.Key, err)}
		}
		if len(out) > MaxModuleBytes {
			return nil, &ModuleError{Reason: "ModuleTooLarge", Permanent: true, Message: fmt.Sprintf("module is larger than %d bytes uncompressed", MaxModuleBytes)}
		}
		b = out
	}
	return b, nil
}
