package sdk

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Reasons of Kubernetes Status errors, as in the Status object's reason field.
const (
	ReasonNotFound           = "NotFound"
	ReasonAlreadyExists      = "AlreadyExists"
	ReasonConflict           = "Conflict"
	ReasonForbidden          = "Forbidden"
	ReasonUnauthorized       = "Unauthorized"
	ReasonInvalid            = "Invalid"
	ReasonBadRequest         = "BadRequest"
	ReasonMethodNotAllowed   = "MethodNotAllowed"
	ReasonGone               = "Gone"
	ReasonTooManyRequests    = "TooManyRequests"
	ReasonInternalError      = "InternalError"
	ReasonServiceUnavailable = "ServiceUnavailable"
	ReasonTimeout            = "Timeout"
	ReasonEntityTooLarge     = "RequestEntityTooLarge"
)

// StatusError is an API error: a response with a non-2xx status, decoded from
// the Kubernetes Status object the API server sends with it.
type StatusError struct {
	// Code is the HTTP status code, such as 404.
	Code int32 `json:"code"`
	// Reason is the machine-readable reason, such as "NotFound"; empty when
	// the server gave none.
	Reason string `json:"reason,omitempty"`
	// Message is the human-readable description.
	Message string `json:"message,omitempty"`
	// Details identify the object and the causes of the error, when given.
	Details *StatusDetails `json:"details,omitempty"`
}

// StatusDetails are the details of a Status.
type StatusDetails struct {
	Name              string        `json:"name,omitempty"`
	Group             string        `json:"group,omitempty"`
	Kind              string        `json:"kind,omitempty"`
	UID               string        `json:"uid,omitempty"`
	Causes            []StatusCause `json:"causes,omitempty"`
	RetryAfterSeconds int32         `json:"retryAfterSeconds,omitempty"`
}

// StatusCause is one cause of an error, such as an invalid field.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	msg := "the server responded with status " + strconv.Itoa(int(e.Code))
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// decodeStatusError builds the error of a response with status code and body.
// A body that is not a Status still gives a StatusError, with the reason the
// code implies and the start of the body as its message.
func decodeStatusError(code int, body []byte) *StatusError {
	var status struct {
		Kind string `json:"kind"`
		StatusError
	}
	if err := json.Unmarshal(body, &status); err == nil && status.Kind == "Status" {
		e := status.StatusError
		if e.Code == 0 {
			e.Code = int32(code)
		}
		if e.Reason == "" {
			e.Reason = reasonForCode(int(e.Code))
		}
		return &e
	}
	e := &StatusError{Code: int32(code), Reason: reasonForCode(code)}
	if text := strings.TrimSpace(string(body)); text != "" {
		const max = 256
		if len(text) > max {
			text = text[:max] + "..."
		}
		e.Message = "the server responded with status " + strconv.Itoa(code) + ": " + text
	}
	return e
}

// reasonForCode is the reason the API server uses with an HTTP status code.
func reasonForCode(code int) string {
	switch code {
	case 400:
		return ReasonBadRequest
	case 401:
		return ReasonUnauthorized
	case 403:
		return ReasonForbidden
	case 404:
		return ReasonNotFound
	case 405:
		return ReasonMethodNotAllowed
	case 409:
		return ReasonConflict
	case 410:
		return ReasonGone
	case 413:
		return ReasonEntityTooLarge
	case 422:
		return ReasonInvalid
	case 429:
		return ReasonTooManyRequests
	case 500:
		return ReasonInternalError
	case 503:
		return ReasonServiceUnavailable
	case 504:
		return ReasonTimeout
	default:
		return ""
	}
}

// ReasonForError returns the reason of a *StatusError in err's chain, or ""
// when there is none.
func ReasonForError(err error) string {
	if e, ok := errors.AsType[*StatusError](err); ok {
		return e.Reason
	}
	return ""
}

// hasReason reports whether err's chain holds a *StatusError with reason, or
// with code when the server gave no reason.
func hasReason(err error, reason string, code int32) bool {
	e, ok := errors.AsType[*StatusError](err)
	if !ok {
		return false
	}
	if e.Reason != "" {
		return e.Reason == reason
	}
	return code != 0 && e.Code == code
}

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool { return hasReason(err, ReasonNotFound, 404) }

// IsAlreadyExists reports whether err says the object already exists.
func IsAlreadyExists(err error) bool { return hasReason(err, ReasonAlreadyExists, 0) }

// IsConflict reports whether err says the write conflicted with another,
// usually because the object's resourceVersion is stale: get it again and
// retry.
func IsConflict(err error) bool { return hasReason(err, ReasonConflict, 409) }

// IsForbidden reports whether err says the controller's ServiceAccount may
// not make the request.
func IsForbidden(err error) bool { return hasReason(err, ReasonForbidden, 403) }

// IsInvalid reports whether err says the object failed validation.
func IsInvalid(err error) bool { return hasReason(err, ReasonInvalid, 422) }
