package wasmcontroller

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/install"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

// newWasmController is a valid WasmController as it is stored.
func newWasmController() *controllers.WasmController {
	memory := resource.MustParse("64Mi")
	return &controllers.WasmController{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "replicator",
			Namespace:       "default",
			ResourceVersion: "7",
			Generation:      3,
			Labels:          map[string]string{"team": "a"},
			Annotations:     map[string]string{"example.com/owner": "team-a"},
			Finalizers:      []string{"example.com/cleanup"},
		},
		Spec: controllers.WasmControllerSpec{
			Module:             controllers.ModuleSource{URL: "https://modules.example.com/v1/replicator.wasm", SHA256: strings.Repeat("ab", 32)},
			ServiceAccountName: "default",
			Watches:            []controllers.Watch{{APIVersion: "v1", Kind: "ConfigMap", WakeWhen: "oldObject == null"}},
			Suspend:            controllers.SuspendSpec{Policy: controllers.SuspendIdle, IdleAfter: &metav1.Duration{Duration: 30 * time.Second}},
			Limits: controllers.Limits{
				Memory:                  &memory,
				ReconcileTimeout:        &metav1.Duration{Duration: 30 * time.Second},
				MaxConcurrentReconciles: 1,
			},
		},
		Status: controllers.WasmControllerStatus{
			Phase:              controllers.PhaseActive,
			ObservedGeneration: 3,
			ModuleDigest:       "sha256:" + strings.Repeat("ab", 32),
			Wakes:              12,
			LastWakeReason:     "event default/app-config",
			MemoryBytes:        2 << 20,
		},
	}
}

func TestStrategy_PrepareForCreate(t *testing.T) {
	s := NewStrategy(newScheme(t), testCeilings, testRules(t))
	wc := newWasmController()
	wc.Generation = 9
	want := wc.DeepCopy()

	s.PrepareForCreate(t.Context(), wc)

	want.Generation = 1
	want.Status = controllers.WasmControllerStatus{Phase: controllers.PhasePending}
	if diff := cmp.Diff(want, wc); diff != "" {
		t.Errorf("PrepareForCreate (-want +got):\n%s", diff)
	}
}

func TestStrategy_PrepareForUpdate(t *testing.T) {
	tests := []struct {
		name           string
		mutate         func(wc *controllers.WasmController)
		wantGeneration int64
	}{
		{
			name:           "no change",
			mutate:         func(*controllers.WasmController) {},
			wantGeneration: 3,
		},
		{
			name:           "label change",
			mutate:         func(wc *controllers.WasmController) { wc.Labels = map[string]string{"team": "b"} },
			wantGeneration: 3,
		},
		{
			name: "status change",
			mutate: func(wc *controllers.WasmController) {
				wc.Status = controllers.WasmControllerStatus{Phase: controllers.PhaseFailed, LastError: "boom"}
			},
			wantGeneration: 3,
		},
		{
			name: "semantically equal memory",
			mutate: func(wc *controllers.WasmController) {
				q := resource.MustParse("65536Ki")
				wc.Spec.Limits.Memory = &q
			},
			wantGeneration: 3,
		},
		{
			name:           "spec change",
			mutate:         func(wc *controllers.WasmController) { wc.Spec.Paused = true },
			wantGeneration: 4,
		},
		{
			name: "watch added",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = append(wc.Spec.Watches, controllers.Watch{APIVersion: "v1", Kind: "Secret"})
			},
			wantGeneration: 4,
		},
		{
			name: "spec change with a stale generation",
			mutate: func(wc *controllers.WasmController) {
				wc.Generation = 1
				wc.Spec.ServiceAccountName = "replicator"
			},
			wantGeneration: 4,
		},
	}
	s := NewStrategy(newScheme(t), testCeilings, testRules(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newWasmController()
			wc := old.DeepCopy()
			tt.mutate(wc)
			wantLabels := wc.Labels

			s.PrepareForUpdate(t.Context(), wc, old)

			if wc.Generation != tt.wantGeneration {
				t.Errorf("generation = %d, want %d", wc.Generation, tt.wantGeneration)
			}
			if diff := cmp.Diff(old.Status, wc.Status); diff != "" {
				t.Errorf("status not kept from the stored object (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantLabels, wc.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusStrategy_PrepareForUpdate(t *testing.T) {
	s := NewStatusStrategy(newScheme(t))
	old := newWasmController()
	wc := old.DeepCopy()
	wc.Labels = map[string]string{"team": "b"}
	wc.Annotations = nil
	wc.Finalizers = nil
	wc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "1"}}
	wc.Spec.Paused = true
	wc.Spec.Watches = nil
	wc.Status = controllers.WasmControllerStatus{
		Phase:              controllers.PhaseSuspended,
		ObservedGeneration: 3,
		Wakes:              13,
		LastWakeTime:       &metav1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	wantStatus := wc.Status

	s.PrepareForUpdate(t.Context(), wc, old)

	want := old.DeepCopy()
	want.Status = wantStatus
	if diff := cmp.Diff(want, wc); diff != "" {
		t.Errorf("PrepareForUpdate (-want +got):\n%s", diff)
	}
}

func TestStrategy_Validate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(wc *controllers.WasmController)
		wantField string
	}{
		{name: "valid", mutate: func(*controllers.WasmController) {}},
		{name: "no watches", mutate: func(wc *controllers.WasmController) { wc.Spec.Watches = nil }, wantField: "spec.watches"},
		{name: "bad wake rule", mutate: func(wc *controllers.WasmController) { wc.Spec.Watches[0].WakeWhen = "1" },
			wantField: "spec.watches[0].wakeWhen"},
		{name: "no namespace", mutate: func(wc *controllers.WasmController) { wc.Namespace = "" }, wantField: "metadata.namespace"},
		{name: "memory over the ceiling", mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("1Gi") },
			wantField: "spec.limits.memory"},
		{name: "timeout over the ceiling", mutate: func(wc *controllers.WasmController) {
			wc.Spec.Limits.ReconcileTimeout = &metav1.Duration{Duration: 6 * time.Minute}
		}, wantField: "spec.limits.reconcileTimeout"},
		{name: "concurrency over the ceiling", mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = 5 },
			wantField: "spec.limits.maxConcurrentReconciles"},
		{name: "inline module over the ceiling", mutate: func(wc *controllers.WasmController) {
			wc.Spec.Module = controllers.ModuleSource{Inline: append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 64<<10)...)}
		}, wantField: "spec.module.inline"},
	}
	s := NewStrategy(newScheme(t), testCeilings, testRules(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := newWasmController()
			wc.ResourceVersion = ""
			tt.mutate(wc)
			checkFields(t, s.Validate(t.Context(), wc), tt.wantField)
		})
	}
}

func TestStrategy_ValidateUpdate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(wc *controllers.WasmController)
		wantField string
	}{
		{name: "valid", mutate: func(wc *controllers.WasmController) { wc.Spec.Paused = true }},
		{name: "bad spec", mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = 65 },
			wantField: "spec.limits.maxConcurrentReconciles"},
		{name: "renamed", mutate: func(wc *controllers.WasmController) { wc.Name = "other" }, wantField: "metadata.name"},
		{name: "memory raised over the ceiling", mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("256Mi") },
			wantField: "spec.limits.memory"},
	}
	s := NewStrategy(newScheme(t), testCeilings, testRules(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newWasmController()
			wc := old.DeepCopy()
			tt.mutate(wc)
			checkFields(t, s.ValidateUpdate(t.Context(), wc, old), tt.wantField)
		})
	}
}

func TestStatusStrategy_ValidateUpdate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(wc *controllers.WasmController)
		wantField string
	}{
		{name: "valid", mutate: func(wc *controllers.WasmController) { wc.Status.Wakes++ }},
		{name: "limits are not checked", mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("1Gi") }},
		{name: "invalid spec is not checked", mutate: func(wc *controllers.WasmController) { wc.Spec.Watches = nil }},
		{name: "bad phase", mutate: func(wc *controllers.WasmController) { wc.Status.Phase = "Running" }, wantField: "status.phase"},
		{name: "negative wakes", mutate: func(wc *controllers.WasmController) { wc.Status.Wakes = -1 }, wantField: "status.wakes"},
	}
	s := NewStatusStrategy(newScheme(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newWasmController()
			wc := old.DeepCopy()
			tt.mutate(wc)
			checkFields(t, s.ValidateUpdate(t.Context(), wc, old), tt.wantField)
		})
	}
}

// checkFields fails unless errs is empty (wantField "") or all its errors
// are on wantField.
func checkFields(t *testing.T, errs field.ErrorList, wantField string) {
	t.Helper()
	if wantField == "" {
		if len(errs) > 0 {
			t.Errorf("unexpected errors: %v", errs)
		}
		return
	}
	if len(errs) == 0 {
		t.Fatalf("no errors, want one on %s", wantField)
	}
	for _, e := range errs {
		if e.Field != wantField {
			t.Errorf("error on %s, want only errors on %s: %v", e.Field, wantField, e)
		}
	}
}

func TestStrategy_Options(t *testing.T) {
	s := NewStrategy(newScheme(t), testCeilings, testRules(t))
	ctx := t.Context()
	if !s.NamespaceScoped() {
		t.Error("NamespaceScoped() = false, want true")
	}
	if s.AllowCreateOnUpdate(ctx) {
		t.Error("AllowCreateOnUpdate() = true, want false")
	}
	if !s.AllowUnconditionalUpdate(ctx) {
		t.Error("AllowUnconditionalUpdate() = false, want true")
	}
	wantMain := []string{".status"}
	if diff := cmp.Diff(wantMain, resetPaths(s.GetResetFields())); diff != "" {
		t.Errorf("Strategy reset fields (-want +got):\n%s", diff)
	}
	wantStatus := []string{".metadata.annotations", ".metadata.finalizers", ".metadata.labels", ".metadata.ownerReferences", ".spec"}
	if diff := cmp.Diff(wantStatus, resetPaths(NewStatusStrategy(newScheme(t)).GetResetFields())); diff != "" {
		t.Errorf("StatusStrategy reset fields (-want +got):\n%s", diff)
	}
}

func resetPaths(fields map[fieldpath.APIVersion]*fieldpath.Set) []string {
	set, ok := fields["controllers.wasm.io/v1alpha1"]
	if !ok {
		return nil
	}
	var paths []string
	set.Iterate(func(p fieldpath.Path) { paths = append(paths, p.String()) })
	sort.Strings(paths)
	return paths
}

func TestGetAttrs(t *testing.T) {
	wc := newWasmController()
	gotLabels, gotFields, err := GetAttrs(wc)
	if err != nil {
		t.Fatalf("GetAttrs: %v", err)
	}
	if diff := cmp.Diff(labels.Set{"team": "a"}, gotLabels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	wantFields := fields.Set{
		"metadata.name":      "replicator",
		"metadata.namespace": "default",
		"status.phase":       "Active",
	}
	if diff := cmp.Diff(wantFields, gotFields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}

	if _, _, err := GetAttrs(&controllers.WasmControllerList{}); err == nil {
		t.Error("GetAttrs of a list succeeded, want an error")
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name  string
		label string
		field string
		want  bool
	}{
		{name: "everything", want: true},
		{name: "label", label: "team=a", want: true},
		{name: "other label", label: "team=b", want: false},
		{name: "phase", field: "status.phase=Active", want: true},
		{name: "other phase", field: "status.phase=Failed", want: false},
		{name: "name and namespace", field: "metadata.name=replicator,metadata.namespace=default", want: true},
	}
	wc := newWasmController()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := labels.Parse(tt.label)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := fields.ParseSelector(tt.field)
			if err != nil {
				t.Fatal(err)
			}
			predicate := Match(ls, fs)
			got, err := predicate.Matches(wc)
			if err != nil {
				t.Fatalf("Matches: %v", err)
			}
			if got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTableConvertor_Columns(t *testing.T) {
	table, err := tableConvertor{}.ConvertToTable(t.Context(), newWasmController(), nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	type column struct {
		Name     string
		Priority int32
	}
	var got []column
	for _, c := range table.ColumnDefinitions {
		got = append(got, column{c.Name, c.Priority})
	}
	want := []column{
		{"Name", 0}, {"Phase", 0}, {"Watches", 0}, {"Wakes", 0}, {"Last Wake", 0}, {"Age", 0},
		{"Module", 1}, {"Reconciler", 1}, {"Memory", 1}, {"Owner", 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	for _, row := range table.Rows {
		if len(row.Cells) != len(table.ColumnDefinitions) {
			t.Errorf("row has %d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
		}
	}
}

func TestTableConvertor_Cells(t *testing.T) {
	now := time.Now()
	watches := func(kinds ...string) []controllers.Watch {
		var ws []controllers.Watch
		for _, k := range kinds {
			ws = append(ws, controllers.Watch{APIVersion: "v1", Kind: k})
		}
		return ws
	}
	tests := []struct {
		name   string
		mutate func(wc *controllers.WasmController)
		want   []interface{}
	}{
		{
			name: "url module",
			mutate: func(wc *controllers.WasmController) {
				wc.CreationTimestamp = metav1.NewTime(now.Add(-5 * 24 * time.Hour))
				wc.Status.LastWakeTime = &metav1.Time{Time: now.Add(-30 * time.Second)}
				wc.Status.Owner = "wasm-apiserver-7d9f8-x2k4q"
			},
			want: []interface{}{"replicator", "Active", "ConfigMap", int64(12), "30s", "5d",
				"modules.example.com/.../replicator.wasm", "<default>", "2Mi", "wasm-apiserver-7d9f8-x2k4q"},
		},
		{
			name: "url module without a path",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{URL: "https://modules.example.com/", SHA256: strings.Repeat("ab", 32)}
				wc.Status.LastWakeTime = nil
			},
			want: []interface{}{"replicator", "Active", "ConfigMap", int64(12), "<none>", "<none>",
				"https://modules.example.com/", "<default>", "2Mi", "<none>"},
		},
		{
			name: "three watches, never woken, image module",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = watches("ConfigMap", "Secret", "Deployment")
				wc.Spec.Module = controllers.ModuleSource{Image: "registry.example.com/replicator:v1"}
				wc.Status = controllers.WasmControllerStatus{Phase: controllers.PhasePending}
			},
			want: []interface{}{"replicator", "Pending", "ConfigMap,Secret,Deployment", int64(0), "<none>", "<none>",
				"registry.example.com/replicator:v1", "<default>", "0", "<none>"},
		},
		{
			name: "five watches, configMap module",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = watches("ConfigMap", "Secret", "Deployment", "Service", "Pod")
				wc.Spec.Module = controllers.ModuleSource{ConfigMapRef: &controllers.ConfigMapKeyReference{Name: "modules", Key: "replicator.wasm"}}
				wc.Status.MemoryBytes = 1500
			},
			want: []interface{}{"replicator", "Active", "ConfigMap,Secret,Deployment +2 more", int64(12), "<none>", "<none>",
				"configmap/modules[replicator.wasm]", "<default>", "1500", "<none>"},
		},
		{
			name: "four watches, inline module",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = watches("ConfigMap", "Secret", "Deployment", "Service")
				wc.Spec.Module = controllers.ModuleSource{Inline: []byte("\x00asm\x01\x00\x00\x00")}
				wc.Status.MemoryBytes = 3 << 30
			},
			want: []interface{}{"replicator", "Active", "ConfigMap,Secret,Deployment +1 more", int64(12), "<none>", "<none>",
				"inline (8 bytes)", "<default>", "3Gi", "<none>"},
		},
		{
			name: "a bundle's reconciler",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Image: "registry.example.com/bundle:v1", Reconciler: "ttl-cleaner"}
			},
			want: []interface{}{"replicator", "Active", "ConfigMap", int64(12), "<none>", "<none>",
				"registry.example.com/bundle:v1", "ttl-cleaner", "2Mi", "<none>"},
		},
		{
			name: "no module, no watches",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Watches = nil
				wc.Spec.Module = controllers.ModuleSource{}
				wc.Status.MemoryBytes = 64 << 20
			},
			want: []interface{}{"replicator", "Active", "", int64(12), "<none>", "<none>", "<none>", "<default>", "64Mi", "<none>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := newWasmController()
			tt.mutate(wc)
			table, err := tableConvertor{}.ConvertToTable(t.Context(), wc, nil)
			if err != nil {
				t.Fatalf("ConvertToTable: %v", err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			if diff := cmp.Diff(tt.want, table.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
			if table.Rows[0].Object.Object == nil {
				t.Error("row has no object")
			}
			if table.ResourceVersion != "7" {
				t.Errorf("ResourceVersion = %q, want 7", table.ResourceVersion)
			}
		})
	}
}

func TestTableConvertor_List(t *testing.T) {
	first := newWasmController()
	second := newWasmController()
	second.Name = "mirror"
	second.Status = controllers.WasmControllerStatus{Phase: controllers.PhaseFailed}
	remaining := int64(4)
	list := &controllers.WasmControllerList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: &remaining},
		Items:    []controllers.WasmController{*first, *second},
	}

	table, err := tableConvertor{}.ConvertToTable(t.Context(), list, nil)
	if err != nil {
		t.Fatalf("ConvertToTable: %v", err)
	}
	want := [][]interface{}{
		{"replicator", "Active", "ConfigMap", int64(12), "<none>", "<none>", "modules.example.com/.../replicator.wasm", "<default>", "2Mi", "<none>"},
		{"mirror", "Failed", "ConfigMap", int64(0), "<none>", "<none>", "modules.example.com/.../replicator.wasm", "<default>", "0", "<none>"},
	}
	var got [][]interface{}
	for _, row := range table.Rows {
		got = append(got, row.Cells)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
	wantMeta := metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: &remaining}
	if diff := cmp.Diff(wantMeta, table.ListMeta); diff != "" {
		t.Errorf("list metadata (-want +got):\n%s", diff)
	}

	empty, err := tableConvertor{}.ConvertToTable(t.Context(), &controllers.WasmControllerList{}, nil)
	if err != nil {
		t.Fatalf("ConvertToTable of an empty list: %v", err)
	}
	if len(empty.Rows) != 0 {
		t.Errorf("empty list has %d rows", len(empty.Rows))
	}
}

func TestTableConvertor_WrongType(t *testing.T) {
	if _, err := (tableConvertor{}).ConvertToTable(t.Context(), &metav1.Status{}, nil); err == nil {
		t.Error("ConvertToTable of a Status succeeded, want an error")
	}
}
