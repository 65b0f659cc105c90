//go:build !linux

package runtime

import "errors"

// templatePages is a template's memory; only Linux keeps templates (it
// maps an anonymous file): elsewhere instances always initialize.
type templatePages struct {
	resident int64
}

func newTemplatePages([]byte, int64) (*templatePages, error) { return nil, nil }

func (p *templatePages) mapOver([]byte) error {
	return errors.New("templates are not supported on this platform")
}

func (p *templatePages) close() {}
