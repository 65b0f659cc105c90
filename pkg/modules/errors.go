package modules

import "errors"

// Reasons a module cannot be fetched. Each goes into the ModuleLoaded
// condition and the Event reason, so a user can tell them apart.
const (
	// ReasonNoSource: spec.module names no source.
	ReasonNoSource = "NoSource"
	// ReasonNoTargetCluster: the source needs a target cluster and there is none.
	ReasonNoTargetCluster = "NoTargetCluster"
	// ReasonConfigMapNotFound: spec.module.configMapRef names no ConfigMap.
	ReasonConfigMapNotFound = "ConfigMapNotFound"
	// ReasonKeyNotFound: the ConfigMap has no such key.
	ReasonKeyNotFound = "KeyNotFound"
	// ReasonInvalidModule: the module's encoding (gzip) is broken.
	ReasonInvalidModule = "InvalidModule"
	// ReasonInvalidReference: spec.module.image is not a valid reference.
	ReasonInvalidReference = "InvalidReference"
	// ReasonImageNotFound: the registry has no such repository, tag or digest.
	ReasonImageNotFound = "ImageNotFound"
	// ReasonUnauthorized: the registry refused the credentials (or their
	// absence).
	ReasonUnauthorized = "Unauthorized"
	// ReasonForbidden: the WasmController's ServiceAccount may not read the
	// ConfigMap or image pull Secret it names.
	ReasonForbidden = "Forbidden"
	// ReasonPullSecretInvalid: an image pull Secret is missing or cannot be read.
	ReasonPullSecretInvalid = "PullSecretInvalid"
	// ReasonUnsupportedArtifact: the image is not a Wasm layout this host reads.
	ReasonUnsupportedArtifact = "UnsupportedArtifact"
	// ReasonDigestMismatch: the bytes are not those a digest promised.
	ReasonDigestMismatch = "DigestMismatch"
	// ReasonModuleTooLarge: the module exceeds the size limit.
	ReasonModuleTooLarge = "ModuleTooLarge"
	// ReasonNotWasm: the bytes are not a WebAssembly core module.
	ReasonNotWasm = "NotWasm"
	// ReasonFetchFailed: the network or the server failed; retried. For a
	// url source, any failure once the request is sent, so that a URL cannot
	// probe what the server reaches.
	ReasonFetchFailed = "FetchFailed"
	// ReasonStorageFailed: the server's own storage failed (the module
	// store on disk could not keep the module), not the module nor its
	// source; retried with a backoff until the storage works again. The
	// message names none of the server's files; the server's log does.
	ReasonStorageFailed = "StorageFailed"
)

// Error says why a module could not be fetched.
type Error struct {
	// Reason is one of the Reason constants.
	Reason string
	// Message says what happened, for the condition and the Event.
	Message string
	// Permanent errors are not retried until the spec changes; the others
	// are retried with a backoff.
	Permanent bool
	// Err is the underlying error, if any. It is logged, not shown.
	Err error

	// detail is what the server's log says beyond Message: what a server or
	// the network answered, which the WasmController's tenant is not told.
	detail string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of err's *Error, ReasonFetchFailed for other
// errors, and "" for nil.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Reason != "" {
		return e.Reason
	}
	return ReasonFetchFailed
}

// IsPermanent says whether err waits for a spec change rather than a retry.
func IsPermanent(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Permanent
}

// detail is err's full story, for the server's log.
func detail(err error) string {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		return err.Error()
	}
	s := e.Message
	if e.detail != "" {
		s += ": " + e.detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func permanent(reason, message string, err error) *Error {
	return &Error{Reason: reason, Message: message, Permanent: true, Err: err}
}

func transient(reason, message string, err error) *Error {
	return &Error{Reason: reason, Message: message, Err: err}
}

// storageFailed is a failure of the module store to keep a fetched module:
// the server's, retried, and told without the server's paths, which err
// holds for the log.
func storageFailed(err error) *Error {
	return transient(ReasonStorageFailed,
		"the server's storage failed while keeping the module; the fetch is retried (the server's log says why)", err)
}
