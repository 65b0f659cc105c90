// Command impersonate is a hostile test guest: each reconcile tries to grant
// its own ServiceAccount every permission by patching the ClusterRole named by
// TARGET_CLUSTERROLE, once as itself and then with every way a request
// envelope could name another identity (impersonation and authorization
// headers in any case, query parameters, paths that leave the API). It fails
// with the status of each attempt, `attempts: <form>=<status> ...`, so that
// a test can check the host refused them all and the cluster's RBAC refused
// the plain one.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

func init() {
	sdk.Register(sdk.ReconcilerFunc(reconcile))
}

func main() {}

// escalate is a merge patch that grants everything.
var escalate = json.RawMessage(`{"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}`)

// attempt is one way of asking.
type attempt struct {
	form    string
	path    string // appended to the ClusterRole's path, or replacing it when it starts with /
	query   string
	headers map[string]string
}

const (
	controllerSA = "system:serviceaccount:kube-system:clusterrole-aggregation-controller"
	crPath       = "/apis/rbac.authorization.k8s.io/v1/clusterroles/"
)

func attempts(target string) []attempt {
	return []attempt{
		{form: "plain"},
		{form: "Impersonate-User", headers: map[string]string{"Impersonate-User": controllerSA}},
		{form: "impersonate-user", headers: map[string]string{"impersonate-user": controllerSA}},
		{form: "IMPERSONATE-USER", headers: map[string]string{"IMPERSONATE-USER": "system:admin", "Impersonate-Group": "system:masters"}},
		{form: "Impersonate-Group", headers: map[string]string{"Impersonate-Group": "system:masters"}},
		{form: "Impersonate-Uid", headers: map[string]string{"Impersonate-Uid": "0"}},
		{form: "Impersonate-Extra", headers: map[string]string{"Impersonate-Extra-Scopes": "cluster-admin"}},
		{form: "Authorization", headers: map[string]string{"Authorization": "Bearer not-the-host's"}},
		{form: "Content-Type-CRLF", headers: map[string]string{"Content-Type": "application/merge-patch+json\r\nImpersonate-User: " + controllerSA}},
		{form: "query", query: "Impersonate-User=" + controllerSA},
		{form: "path-query", path: target + "?impersonate-user=" + controllerSA},
		{form: "path-host", path: "//127.0.0.1" + crPath + target},
		{form: "path-encoded", path: crPath + "%2e%2e/" + target},
	}
}

func reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	target := os.Getenv("TARGET_CLUSTERROLE")
	var results []string
	for _, a := range attempts(target) {
		path := crPath + target
		switch {
		case strings.HasPrefix(a.path, "/"):
			path = a.path
		case a.path != "":
			path = crPath + a.path
		}
		headers := map[string]string{"Content-Type": "application/merge-patch+json"}
		for k, v := range a.headers {
			if strings.EqualFold(k, "Content-Type") {
				delete(headers, "Content-Type")
			}
			headers[k] = v
		}
		resp, err := sdk.HostAPI.Do(ctx, &sdk.APIRequest{Method: "PATCH", Path: path, Query: a.query, Headers: headers, Body: escalate})
		if err != nil {
			results = append(results, fmt.Sprintf("%s=error(%v)", a.form, err))
			continue
		}
		results = append(results, fmt.Sprintf("%s=%d", a.form, resp.Status))
	}
	return sdk.Result{}, fmt.Errorf("attempts: %s", strings.Join(results, " "))
}
