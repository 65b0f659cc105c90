package modules

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryError turns a registry client error into an *Error.
//
// A tenant names any registry host, so the message says only what a user
// needs to act: the registry refused the credentials (Unauthorized), or has
// no such image (ImageNotFound); anything else (the network, TLS, other
// statuses, what the registry wrote) is one FetchFailed, detailed in the
// log only.
func registryError(image string, err error) error {
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	if te, ok := errors.AsType[*transport.Error](err); ok {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden ||
			hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return transient(ReasonUnauthorized, fmt.Sprintf(
				"image %s: the registry denied access (check spec.module.imagePullSecrets)", image), err)
		case te.StatusCode == http.StatusNotFound ||
			hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			return transient(ReasonImageNotFound, fmt.Sprintf("image %s not found in its registry", image), err)
		}
	}
	return transient(ReasonFetchFailed, fmt.Sprintf(
		"image %s could not be pulled from its registry (the server's log says why)", image), err)
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if slices.Contains(codes, d.Code) {
			return true
		}
	}
	return false
}
