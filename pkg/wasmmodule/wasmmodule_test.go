package wasmmodule

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheckHeader(t *testing.T) {
	tests := []struct {
		name    string
		b       string
		wantErr string // a part of the message; "": no error
	}{
		{name: "core module", b: "\x00asm\x01\x00\x00\x00"},
		{name: "core module with sections", b: "\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00"},
		{name: "empty", b: "", wantErr: `magic bytes \0asm`},
		{name: "magic only", b: "\x00asm", wantErr: `magic bytes \0asm`},
		{name: "header cut short", b: "\x00asm\x01\x00\x00", wantErr: `magic bytes \0asm`},
		{name: "not WebAssembly", b: "PK\x03\x04\x14\x00\x00\x00", wantErr: `magic bytes \0asm`},
		{name: "gzip", b: "\x1f\x8b\x08\x00\x00\x00\x00\x00", wantErr: `magic bytes \0asm`},
		{name: "component", b: "\x00asm\x0d\x00\x01\x00", wantErr: "a WebAssembly component, not a core module"},
		{name: "version 2", b: "\x00asm\x02\x00\x00\x00", wantErr: "version 02000000 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHeader([]byte(tt.b))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckHeader: %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckHeader: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHasMagic(t *testing.T) {
	tests := []struct {
		b    string
		want bool
	}{
		{b: "", want: false},
		{b: "\x00as", want: false},
		{b: "\x00asm", want: true},
		{b: "\x00asm\x0d\x00\x01\x00", want: true},
		{b: "plugin.wasm\x00\x00", want: false},
	}
	for _, tt := range tests {
		if got := HasMagic([]byte(tt.b)); got != tt.want {
			t.Errorf("HasMagic(%q) = %v, want %v", tt.b, got, tt.want)
		}
	}
}

func TestDigest(t *testing.T) {
	tests := []struct {
		b    string
		want string
	}{
		{b: "", want: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{b: "\x00asm\x01\x00\x00\x00", want: "sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476"},
	}
	for _, tt := range tests {
		if got := Digest([]byte(tt.b)); got != tt.want {
			t.Errorf("Digest(%q) = %s, want %s", tt.b, got, tt.want)
		}
	}
}

func ExampleCheckHeader() {
	fmt.Println(CheckHeader([]byte("\x00asm\x01\x00\x00\x00")))
	fmt.Println(CheckHeader([]byte("\x00asm\x0d\x00\x01\x00")))
	// Output:
	// <nil>
	// a WebAssembly component, not a core module: build the guest as a core module (GOOS=wasip1 GOARCH=wasm)
}
