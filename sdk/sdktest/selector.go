package sdktest

import (
	"fmt"
	"strings"
)

// selector is a parsed label or field selector.
type selector []requirement

type requirement struct {
	key, op, value string // op is "=", "!=", "exists" or "!exists"
}

func parseSelector(s string) (selector, error) {
	var sel selector
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		switch {
		case term == "":
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			sel = append(sel, requirement{strings.TrimSpace(k), "!=", strings.TrimSpace(v)})
		case strings.Contains(term, "="):
			k, v, _ := strings.Cut(term, "=")
			sel = append(sel, requirement{strings.TrimSpace(k), "=", strings.TrimSpace(strings.TrimPrefix(v, "="))})
		case strings.HasPrefix(term, "!"):
			sel = append(sel, requirement{strings.TrimSpace(term[1:]), "!exists", ""})
		case strings.ContainsAny(term, " ()"):
			return nil, fmt.Errorf("sdktest: unsupported selector term %q", term)
		default:
			sel = append(sel, requirement{term, "exists", ""})
		}
	}
	return sel, nil
}

func (s selector) matches(set map[string]string) bool {
	for _, r := range s {
		v, ok := set[r.key]
		switch r.op {
		case "=":
			if !ok || v != r.value {
				return false
			}
		case "!=":
			if ok && v == r.value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}
