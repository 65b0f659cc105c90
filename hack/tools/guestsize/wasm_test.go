package main

import "testing"

func TestPackageOf(t *testing.T) {
	tests := []struct {
		symbol, want string
	}{
		{"runtime.stackpoolalloc", "runtime"},
		{"runtime.__gcControllerState_.init", "runtime"},
		{"encoding_json.__encodeState_.String", "encoding_json"},
		{"github.com_wasm_apiserver_wasm_apiserver_sdk.run", "github.com_wasm_apiserver_wasm_apiserver_sdk"},
		{"k8s.io_api_core_v1.__Pod_.Marshal", "k8s.io_api_core_v1"},
		{"sigs.k8s.io_json_internal_golang_encoding_json.Unmarshal", "sigs.k8s.io_json_internal_golang_encoding_json"},
		{"go.yaml.in_yaml_v2.yaml_parser_parse", "go.yaml.in_yaml_v2"},
		{"_rt0_wasm_wasip1", "_rt0_wasm_wasip1"},
		{"", "(unnamed)"},
	}
	for _, tt := range tests {
		if got := packageOf(tt.symbol); got != tt.want {
			t.Errorf("packageOf(%q) = %q, want %q", tt.symbol, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	// A module importing one function and defining two, named "a.f" and
	// "b.g" (function indexes 1 and 2).
	wasm := []byte("\x00asm\x01\x00\x00\x00" +
		"\x02\x07\x01\x01m\x01f\x00\x00" + // import section: m.f, a function of type 0
		"\x0a\x07\x02\x02\x00\x0b\x02\x00\x0b" + // code section: two bodies of 2 bytes
		"\x00\x12\x04name\x01\x0b\x02\x01\x03a.f\x02\x03b.g") // name section
	m, err := parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if m.importedFuncs != 1 || len(m.funcSizes) != 2 || m.codeBytes != 7 || m.funcNames[1] != "a.f" || m.funcNames[2] != "b.g" {
		t.Errorf("parse = %+v", m)
	}
	if got := m.byPackage(); len(got) != 2 || got[0].bytes != 2 {
		t.Errorf("byPackage = %+v", got)
	}
	if _, err := parse(wasm[:20]); err == nil {
		t.Error("a truncated module parsed")
	}
}
