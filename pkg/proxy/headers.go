package proxy

import (
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// jsonType is the media type of every body the host sends and answers.
const jsonType = "application/json"

// bodyTypes are the Content-Types of a request body the host passes on:
// JSON, and the patch types whose bodies are JSON (apply patches are YAML,
// of which JSON is a part).
var bodyTypes = sets.New(
	jsonType,
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
	"application/json-patch+json",
	"application/apply-patch+yaml",
)

// responseHeaders are the API server's response headers a guest sees: the
// body's type, deprecation and admission warnings, when to retry a
// throttled request, and the audit ID that finds the request in the audit
// log.
var responseHeaders = []string{"Content-Type", "Warning", "Retry-After", "Audit-Id"}

// checkHeaders lets through the request headers a guest may send, and
// refuses every other: the host alone sets who the request is made as
// (Authorization, Impersonate-*) and everything else about it.
//
//   - Content-Type: one of bodyTypes, with at most a charset=utf-8
//     parameter; sent on as the bare media type.
//   - Accept: a list that includes application/json or */*; the host always
//     asks the API server for application/json.
//   - Cache-Control: no-cache, which sends a GET to the API server instead of
//     the cache; never sent on.
//
// Names are matched in any case; a name given twice in different cases is
// refused.
//
// A header outside this list fails the whole request rather than being
// dropped: a guest that sends one expects it to change the request, and
// learns at once that it does not, instead of seeing a request made as
// something else than it meant.
func checkHeaders(gr *guestRequest, headers map[string]string) *abi.APIResponse {
	bad := func(format string, args ...any) *abi.APIResponse {
		return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf(format, args...))
	}
	var seen sets.Set[string]
	if len(headers) > 1 {
		seen = sets.New[string]()
	}
	for name, value := range headers {
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if seen != nil {
			if seen.Has(canonical) {
				return bad("header %q is given twice", canonical)
			}
			seen.Insert(canonical)
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return bad("header %q has a control character in its value", canonical)
		}
		switch canonical {
		case "Content-Type":
			mt, params, err := mime.ParseMediaType(value)
			if err != nil || !bodyTypes.Has(mt) || !onlyUTF8Charset(params) {
				return bad("Content-Type %q is not served to guests: bodies are JSON, sent as one of %s",
					value, strings.Join(sets.List(bodyTypes), ", "))
			}
			gr.contentType = mt
		case "Accept":
			if !acceptsJSON(value) {
				return bad("Accept %q does not accept %s, the only type the host answers with", value, jsonType)
			}
		case "Cache-Control":
			if !strings.EqualFold(strings.TrimSpace(value), "no-cache") {
				return bad("Cache-Control %q is not served to guests: only no-cache, which reads from the API server instead of the cache", value)
			}
			gr.noCache = true
		default:
			return bad("header %q is not served to guests: the host sets the identity and headers of every request; "+
				"guests may send only Content-Type, Accept and Cache-Control: no-cache", canonical)
		}
	}
	if len(gr.body) > 0 && gr.contentType == "" {
		gr.contentType = jsonType
	}
	return nil
}

func onlyUTF8Charset(params map[string]string) bool {
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// acceptsJSON says whether an Accept header's media ranges include JSON.
func acceptsJSON(accept string) bool {
	for _, r := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(r))
		if err == nil && (mt == jsonType || mt == "application/*" || mt == "*/*") {
			return true
		}
	}
	return false
}

// passedHeaders picks the responseHeaders of an API server's response; a
// header given several times is joined with ", ", as HTTP allows.
func passedHeaders(h http.Header) map[string]string {
	var out map[string]string
	for _, name := range responseHeaders {
		if vs := h.Values(name); len(vs) > 0 {
			if out == nil {
				out = make(map[string]string, len(responseHeaders))
			}
			out[name] = strings.Join(vs, ", ")
		}
	}
	return out
}
