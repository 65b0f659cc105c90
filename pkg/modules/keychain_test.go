package modules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestDockerKeychain_Resolve(t *testing.T) {
	config := []byte(`{"auths": {
		"registry.example.com": {"auth": "aG9zdDpob3N0"},
		"https://registry.example.com/v1/team": {"username": "team", "password": "team"},
		"registry.example.com/team/special": {"identitytoken": "tok"},
		"https://index.docker.io/v1/": {"username": "hub", "password": "hub"},
		"": {"username": "nobody"}
	}}`)
	kc, err := parseDockerConfig(config, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		repo string
		want authn.AuthConfig
	}{
		{"registry.example.com/other/ctl", authn.AuthConfig{Username: "host", Password: "host", Auth: "aG9zdDpob3N0"}},
		{"registry.example.com/team/ctl", authn.AuthConfig{Username: "team", Password: "team", Auth: "dGVhbTp0ZWFt"}},
		{"registry.example.com/team/special/ctl", authn.AuthConfig{IdentityToken: "tok"}},
		{"registry.example.com/teammate/ctl", authn.AuthConfig{Username: "host", Password: "host", Auth: "aG9zdDpob3N0"}},
		{"library/ctl", authn.AuthConfig{Username: "hub", Password: "hub", Auth: "aHViOmh1Yg=="}},
		{"elsewhere.example.com/ctl", authn.AuthConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			repo, err := name.NewRepository(tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := kc.Resolve(repo)
			if err != nil {
				t.Fatal(err)
			}
			got, err := auth.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("credential (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDockerConfig_Legacy(t *testing.T) {
	kc, err := parseDockerConfig([]byte(`{"https://registry.example.com": {"auth": "dTpw"}}`), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(kc) != 1 || kc[0].host != "registry.example.com" || kc[0].auth.Username != "u" || kc[0].auth.Password != "p" {
		t.Fatalf("parsed %+v", kc)
	}
	if _, err := parseDockerConfig([]byte(`{"auths": []}`), false); err == nil {
		t.Fatal("a malformed .dockerconfigjson was accepted")
	}
}

// FuzzParseDockerConfig feeds image pull Secret contents, which users
// write, to the parser and the keychain.
func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths": {"registry.example.com": {"auth": "dTpw"}}}`), false)
	f.Add([]byte(`{"https://index.docker.io/v1/": {"username": "u", "password": "p"}}`), true)
	f.Add([]byte(`{"auths": {"h/v2/a/b": {"auth": "!!"}}}`), false)
	repo, _ := name.NewRepository("registry.example.com/team/ctl")
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		kc, err := parseDockerConfig(data, legacy)
		if err != nil {
			return
		}
		if _, err := kc.Resolve(repo); err != nil {
			t.Fatalf("Resolve: %v", err)
		}
	})
}
