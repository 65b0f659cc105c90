package wasmcontroller

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
)

// tableConvertor renders WasmControllers for kubectl get: NAME, PHASE,
// WATCHES, WAKES, LAST WAKE, AGE, and with -o wide also MODULE, RECONCILER,
// MEMORY and OWNER.
type tableConvertor struct{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the WasmController."},
	{Name: "Phase", Type: "string", Description: "Pending, Loading, Active, Suspended, Failed or Paused."},
	{Name: "Watches", Type: "string", Description: "The kinds the controller watches."},
	{Name: "Wakes", Type: "integer", Description: "Reconciles run since the controller was loaded."},
	{Name: "Last Wake", Type: "string", Description: "Time since the controller last woke."},
	{Name: "Age", Type: "string", Description: "Time since the WasmController was created."},
	{Name: "Module", Type: "string", Priority: 1, Description: "Where the module comes from."},
	{Name: "Reconciler", Type: "string", Priority: 1, Description: "The reconciler of the module that runs; <default> when the WasmController names none."},
	{Name: "Memory", Type: "string", Priority: 1, Description: "Linear memory of resident instances."},
	{Name: "Owner", Type: "string", Priority: 1, Description: "The replica of wasm-apiserver that runs the controller."},
}

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: columns}
	if m, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}

	var items []controllers.WasmController
	switch t := obj.(type) {
	case *controllers.WasmController:
		items = []controllers.WasmController{*t}
	case *controllers.WasmControllerList:
		items = t.Items
	default:
		return nil, fmt.Errorf("cannot show %T as a table of WasmControllers", obj)
	}
	for i := range items {
		wc := &items[i]
		table.Rows = append(table.Rows, metav1.TableRow{
			Object: runtime.RawExtension{Object: wc},
			Cells: []interface{}{
				wc.Name, string(wc.Status.Phase), watchKinds(wc.Spec.Watches), wc.Status.Wakes,
				since(wc.Status.LastWakeTime), since(&wc.CreationTimestamp),
				moduleSummary(&wc.Spec.Module), reconciler(wc.Spec.Module.Reconciler), memory(wc.Status.MemoryBytes), owner(wc.Status.Owner),
			},
		})
	}
	return table, nil
}

func watchKinds(watches []controllers.Watch) string {
	s := ""
	for i, w := range watches {
		if i == 3 {
			return s + fmt.Sprintf(" +%d more", len(watches)-3)
		}
		if i > 0 {
			s += ","
		}
		s += w.Kind
	}
	return s
}

func since(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "<none>"
	}
	return duration.HumanDuration(metav1.Now().Sub(t.Time))
}

func moduleSummary(m *controllers.ModuleSource) string {
	switch {
	case m.Image != "":
		return m.Image
	case m.URL != "":
		if u, err := url.Parse(m.URL); err == nil && strings.Trim(u.Path, "/") != "" {
			return u.Host + "/.../" + path.Base(u.Path)
		}
		return m.URL
	case m.ConfigMapRef != nil:
		return "configmap/" + m.ConfigMapRef.Name + "[" + m.ConfigMapRef.Key + "]"
	case len(m.Inline) > 0:
		return fmt.Sprintf("inline (%d bytes)", len(m.Inline))
	}
	return "<none>"
}

func reconciler(name string) string {
	if name == "" {
		return "<default>"
	}
	return name
}

func owner(id string) string {
	if id == "" {
		return "<none>"
	}
	return id
}

func memory(b int64) string {
	if b == 0 {
		return "0"
	}
	return resource.NewQuantity(b, resource.BinarySI).String()
}
