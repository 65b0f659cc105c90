package sdk

import (
	"net/url"
	"testing"
)

func TestQuery_Encode(t *testing.T) {
	q := query{}
	want := url.Values{}
	for k, v := range map[string]string{
		"labelSelector": "app in (web, api),tier!=cache,wasm.io/replicate=true",
		"fieldSelector": "metadata.name=a~b",
		"continue":      "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTJ9+/=",
		"limit":         "50",
		"ünïcode":       "ä&b=c%d",
	} {
		q.set(k, v)
		want.Set(k, v)
	}
	q.set("empty", "")
	if got := q.encode(); got != want.Encode() {
		t.Errorf("encode =\n %s\nwant\n %s", got, want.Encode())
	}
	if got := (query{}).encode(); got != "" {
		t.Errorf("empty query = %q", got)
	}
}
