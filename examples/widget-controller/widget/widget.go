// Package widget is the widget-controller of wasm-apiserver, for the Widget
// custom resource (demo.wasm.io/v1, see ../crd.yaml). For a Widget named w with
// spec.replicas n it keeps ConfigMaps w-0 ... w-(n-1) holding spec.message,
// owned by the Widget so they are garbage-collected with it, deletes the
// extra ones, and reports status.readyReplicas and status.observedGeneration
// through the status subresource.
//
// It shows the SDK with typed structs: objects are decoded with Into and
// written as structs. It records Events on the Widget (kubectl describe
// widget shows them): Synced when it changed children, SyncFailed when a
// reconcile failed.
package widget

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// widgets is the Widget resource.
var widgets = sdk.Resource{Group: "demo.wasm.io", Version: "v1", Resource: "widgets", Namespaced: true, Kind: "Widget"}

// widgetLabel marks a child ConfigMap with the name of its Widget, so the
// children of one Widget can be listed and mapped back to it.
const widgetLabel = "demo.wasm.io/widget"

// Widget is the custom resource.
type Widget struct {
	sdk.TypeMeta `json:",inline"`
	Metadata     sdk.ObjectMeta `json:"metadata"`
	Spec         WidgetSpec     `json:"spec"`
	Status       WidgetStatus   `json:"status"`
}

// WidgetSpec is what the user wants.
type WidgetSpec struct {
	// Replicas is how many child ConfigMaps to keep.
	Replicas int32 `json:"replicas"`
	// Message is written into every child.
	Message string `json:"message,omitempty"`
}

// WidgetStatus is what the controller observed.
type WidgetStatus struct {
	// ReadyReplicas is how many children are as the spec wants them.
	ReadyReplicas int32 `json:"readyReplicas"`
	// ObservedGeneration is the generation of the spec the status is for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// configMap is the part of a ConfigMap the controller uses.
type configMap struct {
	sdk.TypeMeta `json:",inline"`
	Metadata     sdk.ObjectMeta    `json:"metadata"`
	Data         map[string]string `json:"data,omitempty"`
}

// Reasons of the Events the controller records on a Widget.
const (
	reasonSynced     = "Synced"
	reasonSyncFailed = "SyncFailed"
)

// New returns the controller, reading and writing through client
// (sdk.DefaultClient in a guest).
func New(client *sdk.Client) sdk.Reconciler {
	return newController(client)
}

// controller reconciles Widgets.
type controller struct {
	client *sdk.Client
	events *sdk.EventRecorder[any]
}

// newController returns a controller reading and writing through client,
// Events included.
func newController(client *sdk.Client) *controller {
	return &controller{client: client, events: sdk.NewEventRecorder("widget-controller", sdk.WithEventClient(client))}
}

// changes counts what a reconcile did to the children.
type changes struct {
	created, updated, deleted int
}

// Reconcile implements sdk.Reconciler. The key is a Widget's.
func (c *controller) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	obj, err := c.client.Get(ctx, widgets, req.Namespace, req.Name)
	if sdk.IsNotFound(err) {
		return sdk.Result{}, nil // the garbage collector deletes the children
	}
	if err != nil {
		return sdk.Result{}, err
	}
	var w Widget
	if err := obj.Into(&w); err != nil {
		return sdk.Result{}, err
	}
	if w.Metadata.DeletionTimestamp != nil {
		return sdk.Result{}, nil
	}

	var done changes
	ready, syncErr := c.syncChildren(ctx, obj, &w, &done)
	// Report what is there even when some children failed.
	statusErr := c.updateStatus(ctx, &w, ready)
	if done != (changes{}) {
		c.events.Eventf(obj, sdk.EventTypeNormal, reasonSynced, "Created %d, updated %d and deleted %d ConfigMaps; %d of %d ready",
			done.created, done.updated, done.deleted, ready, max(w.Spec.Replicas, 0))
	}
	err = errors.Join(syncErr, statusErr)
	if err != nil {
		c.events.Event(obj, sdk.EventTypeWarning, reasonSyncFailed, err.Error())
	}
	return sdk.Result{}, err
}

// syncChildren creates, updates and deletes the children of w, counting
// them in done, and returns how many are as the spec wants them.
func (c *controller) syncChildren(ctx context.Context, owner *sdk.Object, w *Widget, done *changes) (int32, error) {
	list, err := c.client.List(ctx, sdk.ConfigMaps, w.Metadata.Namespace, sdk.MatchingLabels{widgetLabel: w.Metadata.Name})
	if err != nil {
		return 0, err
	}
	var children []configMap
	if err := list.Into(&children); err != nil {
		return 0, err
	}

	replicas := max(w.Spec.Replicas, 0)
	existing := map[int32]configMap{}
	var errs []error
	for _, child := range children {
		if !ownedBy(child, w) {
			continue
		}
		if i, ok := childIndex(w.Metadata.Name, child.Metadata.Name); ok && i < replicas {
			existing[i] = child
			continue
		}
		err := c.client.Delete(ctx, sdk.ConfigMaps, child.Metadata.Namespace, child.Metadata.Name, sdk.Preconditions{UID: child.Metadata.UID})
		if err != nil && !sdk.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		done.deleted++
		sdk.Info("deleted extra child", "widget", w.Metadata.Name, "namespace", w.Metadata.Namespace, "child", child.Metadata.Name)
	}

	var ready int32
	ref := sdk.ControllerReference(owner)
	for i := range replicas {
		want := desiredChild(w, i, ref)
		have, ok := existing[i]
		switch {
		case ok && maps.Equal(have.Data, want.Data):
			ready++
			continue
		case ok:
			want.Metadata.ResourceVersion = have.Metadata.ResourceVersion
			want.Metadata.OwnerReferences = have.Metadata.OwnerReferences
			if _, err = c.client.Update(ctx, sdk.ConfigMaps, want); err == nil {
				done.updated++
			}
		default:
			_, err = c.client.Create(ctx, sdk.ConfigMaps, want)
			if sdk.IsAlreadyExists(err) {
				err = fmt.Errorf("ConfigMap %s/%s exists and is not owned by the Widget", w.Metadata.Namespace, want.Metadata.Name)
			}
			if err == nil {
				done.created++
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ready++
	}
	return ready, errors.Join(errs...)
}

// updateStatus writes the status of w when it changed.
func (c *controller) updateStatus(ctx context.Context, w *Widget, ready int32) error {
	status := WidgetStatus{ReadyReplicas: ready, ObservedGeneration: w.Metadata.Generation}
	if w.Status == status {
		return nil
	}
	w.Status = status
	_, err := c.client.UpdateStatus(ctx, widgets, w)
	return err
}

// desiredChild is child i of w.
func desiredChild(w *Widget, i int32, owner sdk.OwnerReference) configMap {
	return configMap{
		TypeMeta: sdk.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: sdk.ObjectMeta{
			Name:            childName(w.Metadata.Name, i),
			Namespace:       w.Metadata.Namespace,
			Labels:          map[string]string{widgetLabel: w.Metadata.Name},
			OwnerReferences: []sdk.OwnerReference{owner},
		},
		Data: map[string]string{"message": w.Spec.Message, "index": strconv.Itoa(int(i))},
	}
}

func childName(widget string, i int32) string {
	return widget + "-" + strconv.Itoa(int(i))
}

// childIndex parses the index of a child name "<widget>-<i>".
func childIndex(widget, name string) (int32, bool) {
	rest, ok := strings.CutPrefix(name, widget+"-")
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || i < 0 || strconv.FormatInt(i, 10) != rest {
		return 0, false
	}
	return int32(i), true
}

// ownedBy reports whether w is the controller of child.
func ownedBy(child configMap, w *Widget) bool {
	ref, ok := sdk.ControllerOf(child.Metadata.OwnerReferences)
	return ok && ref.UID == w.Metadata.UID
}
