// Package sdktest is an in-memory Kubernetes API for unit tests of
// controllers written with package sdk. A Cluster implements sdk.API, so a
// controller's logic runs on the developer's machine with
// sdk.NewClientFor(cluster) and no WebAssembly host:
//
//	cluster := sdktest.NewCluster(t, configMap, namespace)
//	r := &replicator{client: sdk.NewClientFor(cluster)}
//	_, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "a", Name: "settings"})
//	copy, err := cluster.Get(sdk.ConfigMaps, "b", "settings")
//
// It serves get, list (label selectors with =, ==, !=, exists and !exists;
// field selectors on metadata.name and metadata.namespace), create, update,
// the status subresource, merge patches, and delete with preconditions,
// checking resourceVersions as the API server does. It is a fake, not an API
// server: there is no validation, admission, defaulting, garbage collection
// or finalization, apply patches are treated as merge patches that create
// what is missing, and updates keep an object's status as if every resource
// had a status subresource.
package sdktest
