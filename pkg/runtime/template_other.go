//go:build !linux

package runtime

import (
	"errors"
	"fmt"
)

// templatePages is a template's memory; only Linux keeps templates (it
// maps an anonymous file): elsewhere instances always initialize.
type templatePages struct {
	mapped int64
}

// errTemplateRuns is never returned here.
var errTemplateRuns = fmt.Errorf("too many runs")

func newTemplatePages(string, []byte, int64) (*templatePages, error) { return nil, nil }

func (p *templatePages) mapOver([]byte) error {
	return errors.New("templates are not supported on this platform")
}

func (p *templatePages) runCount() int { return 0 }

func (p *templatePages) close() {}
