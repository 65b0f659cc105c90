package sdk_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// cluster is a fake API holding one ConfigMap, as a test of controller logic
// would use.
type cluster struct{}

func (cluster) Do(_ context.Context, req *sdk.APIRequest) (*sdk.APIResponse, error) {
	if req.Method == "GET" && req.Path == "/api/v1/namespaces/default/configmaps/settings" {
		return &sdk.APIResponse{Status: 200, Body: []byte(
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default","labels":{"tier":"web"}},"data":{"color":"blue"}}`)}, nil
	}
	name := req.Path[strings.LastIndex(req.Path, "/")+1:]
	return &sdk.APIResponse{Status: 404, Body: []byte(
		`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"configmaps \"` + name + `\" not found"}`)}, nil
}

func ExampleClient_Get() {
	c := sdk.NewClientFor(cluster{})
	ctx := context.Background()

	cm, err := c.Get(ctx, sdk.ConfigMaps, "default", "settings")
	if err != nil {
		panic(err)
	}
	color, _ := cm.NestedString("data", "color")
	fmt.Println(cm.GetName(), cm.GetLabels()["tier"], color)

	_, err = c.Get(ctx, sdk.ConfigMaps, "default", "other")
	fmt.Println(sdk.IsNotFound(err), err)
	// Output:
	// settings web blue
	// true configmaps "other" not found
}

func ExampleObject_Into() {
	type configMap struct {
		sdk.TypeMeta `json:",inline"`
		Metadata     sdk.ObjectMeta    `json:"metadata"`
		Data         map[string]string `json:"data"`
	}
	cm, err := sdk.NewClientFor(cluster{}).Get(context.Background(), sdk.ConfigMaps, "default", "settings")
	if err != nil {
		panic(err)
	}
	var typed configMap
	if err := cm.Into(&typed); err != nil {
		panic(err)
	}
	fmt.Println(typed.Kind, typed.Metadata.Namespace, typed.Data["color"])
	// Output: ConfigMap default blue
}

func ExampleResource_Path() {
	widgets := sdk.Resource{Group: "demo.wasm.io", Version: "v1", Resource: "widgets", Namespaced: true}
	fmt.Println(sdk.ConfigMaps.Path("default", "settings", ""))
	fmt.Println(sdk.ConfigMaps.Path("", "", ""))
	fmt.Println(sdk.Namespaces.Path("", "team-a", ""))
	fmt.Println(widgets.Path("default", "w", "status"))
	// Output:
	// /api/v1/namespaces/default/configmaps/settings
	// /api/v1/configmaps
	// /api/v1/namespaces/team-a
	// /apis/demo.wasm.io/v1/namespaces/default/widgets/w/status
}

func ExampleObject_SetNestedField() {
	o := sdk.NewObject("v1", "ConfigMap", "default", "settings")
	if err := o.SetNestedField(map[string]string{"color": "green"}, "data"); err != nil {
		panic(err)
	}
	b, _ := o.MarshalJSON()
	fmt.Println(string(b))
	// Output: {"apiVersion":"v1","data":{"color":"green"},"kind":"ConfigMap","metadata":{"name":"settings","namespace":"default"}}
}
