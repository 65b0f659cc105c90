// Package cleaner is the ttl-cleaner controller of wasm-apiserver: it
// deletes ConfigMaps, and optionally Secrets, once the time-to-live in their
// wasm.io/ttl annotation has passed since they were created.
//
// The annotation holds a Go duration such as "30s" or "12h". An object that
// has not expired yet is requeued for when it does; the WasmController's
// resync catches anything else.
package cleaner

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// ttlAnnotation holds an object's time-to-live.
const ttlAnnotation = "wasm.io/ttl"

// secretsEnv, set to "true" in the WasmController's spec.env, makes the
// cleaner handle Secrets too. Its ServiceAccount then needs to get and delete
// Secrets.
const secretsEnv = "TTL_CLEANER_SECRETS"

// New returns the controller, deleting through client (sdk.DefaultClient in
// a guest). It reads its settings from the environment (spec.env): call it
// from an init function.
func New(client *sdk.Client) sdk.Reconciler {
	resources := []sdk.Resource{sdk.ConfigMaps}
	if os.Getenv(secretsEnv) == "true" {
		resources = append(resources, sdk.Secrets)
	}
	return &cleaner{client: client, resources: resources, now: time.Now}
}

// cleaner deletes expired objects of its resources.
type cleaner struct {
	client    *sdk.Client
	resources []sdk.Resource
	now       func() time.Time
}

// Reconcile implements sdk.Reconciler. The key does not say which resource
// woke it, so it looks at the object of that name in each of its resources.
func (c *cleaner) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	var result sdk.Result
	var errs []error
	for _, r := range c.resources {
		remaining, err := c.clean(ctx, r, req.Namespace, req.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if remaining > 0 && (result.RequeueAfter == 0 || remaining < result.RequeueAfter) {
			result.RequeueAfter = remaining
		}
	}
	if err := errors.Join(errs...); err != nil {
		return sdk.Result{}, err
	}
	return result, nil
}

// clean deletes the object if it has expired, and otherwise returns the time
// until it does; zero when it has no TTL.
func (c *cleaner) clean(ctx context.Context, r sdk.Resource, namespace, name string) (time.Duration, error) {
	if namespace == "" {
		return 0, nil
	}
	obj, err := c.client.Get(ctx, r, namespace, name)
	if sdk.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	value, ok := obj.GetAnnotations()[ttlAnnotation]
	if !ok || obj.GetDeletionTimestamp() != nil {
		return 0, nil
	}
	ttl, err := time.ParseDuration(value)
	if err != nil || ttl < 0 {
		// Retrying cannot fix the annotation: report it and move on.
		sdk.Error(err, "ignoring an invalid TTL", "resource", r.Resource, "namespace", namespace, "name", name, "ttl", value)
		return 0, nil
	}
	created := obj.GetCreationTimestamp()
	if created.IsZero() {
		return 0, nil
	}
	remaining := created.Add(ttl).Sub(c.now())
	if remaining > 0 {
		sdk.Debug("not expired yet", "resource", r.Resource, "namespace", namespace, "name", name, "remaining", remaining)
		return remaining, nil
	}
	// Delete only the object that was judged expired, not a newer one that
	// took its name in the meantime.
	err = c.client.Delete(ctx, r, namespace, name, sdk.Preconditions{UID: obj.GetUID()})
	switch {
	case sdk.IsNotFound(err):
		return 0, nil
	case sdk.IsConflict(err):
		// Replaced since the Get; look again soon.
		return time.Second, nil
	case err != nil:
		return 0, err
	}
	sdk.Info("deleted expired object", "resource", r.Resource, "namespace", namespace, "name", name, "ttl", value, "expiredFor", -remaining)
	return 0, nil
}
