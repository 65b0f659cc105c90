package proxy

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// errTooLarge is returned by a boundedBuffer once its bound is reached.
var errTooLarge = errors.New("the response is over its size limit")

// boundedBuffer collects a response body and refuses to grow past max
// bytes, so that an answer too large for a guest is given up as soon as
// that is known instead of after it was built whole.
type boundedBuffer struct {
	data []byte
	max  int
}

func newBoundedBuffer(max int) *boundedBuffer {
	return &boundedBuffer{max: max}
}

// Write implements io.Writer; it writes nothing and fails with errTooLarge
// when p would take the buffer past its bound.
func (b *boundedBuffer) Write(p []byte) (int, error) {
	if len(b.data)+len(p) > b.max {
		return 0, errTooLarge
	}
	b.data = append(b.data, p...)
	return len(p), nil
}

// writeString writes s, within the bound.
func (b *boundedBuffer) writeString(s string) error {
	_, err := b.Write([]byte(s))
	return err
}

// writeJSON writes the JSON encoding of v, within the bound.
func (b *boundedBuffer) writeJSON(v any) error {
	enc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b.data) == 0 && len(enc) <= b.max {
		b.data = enc // a whole body, such as one object: no copy
		return nil
	}
	_, err = b.Write(enc)
	return err
}

// response is a 200 answer with the buffer as its JSON body.
func (b *boundedBuffer) response() *abi.APIResponse {
	return &abi.APIResponse{Status: http.StatusOK, Headers: map[string]string{"Content-Type": jsonType}, Body: b.data}
}

// encodingFailed answers a failed encoding: 413 when it was over the bound.
func encodingFailed(err error) *abi.APIResponse {
	if errors.Is(err, errTooLarge) {
		return tooLarge()
	}
	return status(http.StatusInternalServerError, "InternalError", "encoding: "+err.Error())
}
