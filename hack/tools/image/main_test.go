package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun_Errors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no command", args: nil, wantErr: "usage"},
		{name: "unknown command", args: []string{"load"}, wantErr: `unknown command "load"`},
		{name: "build without out", args: []string{"build"}, wantErr: "--out is required"},
		{name: "build without fields", args: []string{"build", "--out", "x"},
			wantErr: "--image is required"},
		{name: "tag required", args: []string{"build", "--out", "x", "--image", "example.com/a@sha256:" + strings.Repeat("0", 64),
			"--version", "v", "--revision", "r", "--source", "s", "--epoch", "0", "--platform", "linux/amd64=bin"},
			wantErr: "want a reference with a tag"},
		{name: "platform twice", args: []string{"build", "--out", "x", "--image", "example.com/a:v1",
			"--version", "v", "--revision", "r", "--source", "s", "--epoch", "0",
			"--platform", "linux/amd64=a", "--platform", "linux/amd64=b"},
			wantErr: "platform[linux/amd64] given twice"},
		{name: "bad platform", args: []string{"build", "--platform", "amd64"}, wantErr: "want OS/ARCH=BINARY"},
		{name: "epoch required", args: []string{"build", "--out", "x", "--image", "example.com/a:v1",
			"--version", "v", "--revision", "r", "--source", "s", "--platform", "linux/amd64=a"},
			wantErr: "--epoch is required"},
		{name: "push without image", args: []string{"push", "--from", "x"}, wantErr: "--from and --image are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
