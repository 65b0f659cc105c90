package server

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
)

// StandaloneUser is who a request with the standalone token is.
const StandaloneUser = "wasm-apiserver:standalone-admin"

// applyStandaloneAuth makes the server accept only the standalone token (and
// its own loopback client) and writes a kubeconfig that carries it.
func (o *Options) applyStandaloneAuth(cfg *genericapiserver.RecommendedConfig) error {
	token, err := loadOrCreateToken(filepath.Join(o.StateDir, "standalone-token"))
	if err != nil {
		return err
	}
	cfg.Authentication.Authenticator = bearertoken.New(tokenfile.New(map[string]*user.DefaultInfo{
		token: {Name: StandaloneUser, Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}},
	}))
	// Only the token's holder gets past authentication, and it is an administrator.
	cfg.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()

	caData, err := os.ReadFile(o.Recommended.SecureServing.ServerCert.CertKey.CertFile)
	if err != nil {
		return fmt.Errorf("reading serving certificate for the kubeconfig: %w", err)
	}
	server := "https://" + cfg.SecureServing.Listener.Addr().String()
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["wasm-apiserver"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	kubeconfig.AuthInfos["wasm-apiserver"] = &clientcmdapi.AuthInfo{Token: token}
	kubeconfig.Contexts["wasm-apiserver"] = &clientcmdapi.Context{Cluster: "wasm-apiserver", AuthInfo: "wasm-apiserver", Namespace: "default"}
	kubeconfig.CurrentContext = "wasm-apiserver"
	path := filepath.Join(o.StateDir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		return fmt.Errorf("writing kubeconfig[%s]: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	klog.InfoS("Standalone mode: only the generated token is accepted", "server", server, "kubeconfig", path)
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(os.Stderr, "\nwasm-apiserver serves at %s\nPoint kubectl at it with:\n\n    export KUBECONFIG=%s\n    kubectl get wasmcontrollers\n\n", server, abs)
	return nil
}

// loadOrCreateToken keeps the standalone token across restarts so a written
// kubeconfig stays valid.
func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading standalone token[%s]: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing standalone token[%s]: %w", path, err)
	}
	return token, nil
}
