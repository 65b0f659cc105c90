package sdk

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestDecodeStatusError(t *testing.T) {
	tests := []struct {
		name string
		code int
		body string
		want *StatusError
	}{
		{
			name: "status",
			code: 404,
			body: `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}`,
			want: &StatusError{Code: 404, Reason: ReasonNotFound, Message: `configmaps "x" not found`, Details: &StatusDetails{Name: "x", Kind: "configmaps"}},
		},
		{
			name: "status with causes",
			code: 422,
			body: `{"kind":"Status","reason":"Invalid","message":"bad","code":422,"details":{"causes":[{"reason":"FieldValueInvalid","message":"must be no more than 63 characters","field":"metadata.labels"}]}}`,
			want: &StatusError{Code: 422, Reason: ReasonInvalid, Message: "bad", Details: &StatusDetails{Causes: []StatusCause{{Type: "FieldValueInvalid", Message: "must be no more than 63 characters", Field: "metadata.labels"}}}},
		},
		{
			name: "status without reason or code",
			code: 409,
			body: `{"kind":"Status","message":"try again"}`,
			want: &StatusError{Code: 409, Reason: ReasonConflict, Message: "try again"},
		},
		{
			name: "not a status",
			code: 503,
			body: `upstream unavailable`,
			want: &StatusError{Code: 503, Reason: ReasonServiceUnavailable, Message: "the server responded with status 503: upstream unavailable"},
		},
		{
			name: "empty body",
			code: 418,
			want: &StatusError{Code: 418},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeStatusError(tt.code, []byte(tt.body))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeStatusError =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestStatusError_Error(t *testing.T) {
	if got := (&StatusError{Code: 404, Reason: "NotFound"}).Error(); got != "the server responded with status 404 (NotFound)" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&StatusError{Code: 404, Message: "gone"}).Error(); got != "gone" {
		t.Errorf("Error() = %q", got)
	}
}

func TestIsReason(t *testing.T) {
	wrap := func(e *StatusError) error { return fmt.Errorf("reconciling: %w", e) }
	tests := []struct {
		name string
		err  error
		is   func(error) bool
		want bool
	}{
		{name: "not found", err: wrap(&StatusError{Code: 404, Reason: ReasonNotFound}), is: IsNotFound, want: true},
		{name: "not found by code", err: wrap(&StatusError{Code: 404}), is: IsNotFound, want: true},
		{name: "404 with another reason", err: wrap(&StatusError{Code: 404, Reason: "Gone"}), is: IsNotFound, want: false},
		{name: "conflict", err: wrap(&StatusError{Code: 409, Reason: ReasonConflict}), is: IsConflict, want: true},
		{name: "already exists is not a conflict", err: wrap(&StatusError{Code: 409, Reason: ReasonAlreadyExists}), is: IsConflict, want: false},
		{name: "already exists", err: wrap(&StatusError{Code: 409, Reason: ReasonAlreadyExists}), is: IsAlreadyExists, want: true},
		{name: "409 alone is not already exists", err: wrap(&StatusError{Code: 409}), is: IsAlreadyExists, want: false},
		{name: "forbidden", err: wrap(&StatusError{Code: 403, Reason: ReasonForbidden}), is: IsForbidden, want: true},
		{name: "invalid", err: wrap(&StatusError{Code: 422, Reason: ReasonInvalid}), is: IsInvalid, want: true},
		{name: "plain error", err: errors.New("boom"), is: IsNotFound, want: false},
		{name: "nil", err: nil, is: IsNotFound, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.is(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := ReasonForError(wrap(&StatusError{Reason: ReasonForbidden})); got != ReasonForbidden {
		t.Errorf("ReasonForError = %q", got)
	}
}
