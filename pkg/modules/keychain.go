package modules

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// pullSecretKeychain reads the image pull Secrets of wc, in its namespace,
// as its ServiceAccount, into a keychain. Without secrets it resolves to
// anonymous.
func (f *Fetcher) pullSecretKeychain(ctx context.Context, wc *v1alpha1.WasmController) (authn.Keychain, error) {
	var kc dockerKeychain
	namespace, refs := wc.Namespace, wc.Spec.Module.ImagePullSecrets
	if len(refs) == 0 {
		return kc, nil
	}
	kube, user, err := f.serviceAccount(wc, "imagePullSecrets")
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		secret, err := kube.CoreV1().Secrets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, transient(ReasonPullSecretInvalid, fmt.Sprintf("image pull secret %s/%s not found", namespace, ref.Name), err)
		case apierrors.IsForbidden(err):
			return nil, forbidden("secret", namespace, ref.Name, user, err)
		case err != nil:
			return nil, transient(ReasonPullSecretInvalid, fmt.Sprintf("reading image pull secret %s/%s as %s failed", namespace, ref.Name, user), err)
		}
		var entries dockerKeychain
		switch secret.Type {
		case corev1.SecretTypeDockerConfigJson:
			entries, err = parseDockerConfig(secret.Data[corev1.DockerConfigJsonKey], false)
		case corev1.SecretTypeDockercfg:
			entries, err = parseDockerConfig(secret.Data[corev1.DockerConfigKey], true)
		default:
			err = fmt.Errorf("type %q is neither %s nor %s", secret.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
		}
		if err != nil {
			return nil, transient(ReasonPullSecretInvalid, fmt.Sprintf("image pull secret %s/%s: %v", namespace, ref.Name, err), err)
		}
		kc = append(kc, entries...)
	}
	return kc, nil
}

// dockerKeychain holds the credentials of docker config files, and resolves
// a registry or repository to the credential whose key matches it longest.
type dockerKeychain []dockerCredential

type dockerCredential struct {
	host string // "registry.example.com:5000"
	path string // optional repository prefix, "team/controllers"
	auth authn.AuthConfig
}

// Resolve implements authn.Keychain.
func (kc dockerKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := normalizeHost(target.RegistryStr())
	repo := strings.TrimPrefix(strings.TrimPrefix(target.String(), target.RegistryStr()), "/")
	best := -1
	for i, c := range kc {
		if c.host != host || (c.path != "" && repo != c.path && !strings.HasPrefix(repo, c.path+"/")) {
			continue
		}
		if best < 0 || len(c.path) > len(kc[best].path) {
			best = i
		}
	}
	if best < 0 {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(kc[best].auth), nil
}

// parseDockerConfig reads a .dockerconfigjson ({"auths": {key: auth}}) or,
// when legacy, a .dockercfg ({key: auth}). A key is a registry host, with
// an optional scheme and repository path.
func parseDockerConfig(data []byte, legacy bool) (dockerKeychain, error) {
	var auths map[string]authn.AuthConfig
	if legacy {
		if err := json.Unmarshal(data, &auths); err != nil {
			return nil, fmt.Errorf("parsing .dockercfg: %w", err)
		}
	} else {
		var cfg struct {
			Auths map[string]authn.AuthConfig `json:"auths"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("parsing .dockerconfigjson: %w", err)
		}
		auths = cfg.Auths
	}
	var kc dockerKeychain
	for key, auth := range auths {
		host, path := splitRegistryKey(key)
		if host == "" {
			continue
		}
		kc = append(kc, dockerCredential{host: host, path: path, auth: auth})
	}
	return kc, nil
}

// splitRegistryKey turns "https://registry.example.com/v1/team" into
// ("registry.example.com", "team").
func splitRegistryKey(key string) (host, path string) {
	key = strings.TrimSpace(key)
	if strings.Contains(key, "://") {
		if u, err := url.Parse(key); err == nil {
			key = u.Host + u.Path
		}
	}
	host, path, _ = strings.Cut(key, "/")
	path = strings.Trim(path, "/")
	if path == "v1" || path == "v2" || strings.HasPrefix(path, "v1/") || strings.HasPrefix(path, "v2/") {
		path = strings.Trim(path[2:], "/")
	}
	return normalizeHost(host), path
}

// normalizeHost maps Docker Hub's many names to the one references use.
func normalizeHost(host string) string {
	host = strings.ToLower(host)
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "index.docker.io"
	}
	return host
}
