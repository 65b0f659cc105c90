// Command native-replicator is the configmap-replicator example controller
// written as an ordinary client-go program: shared informers for ConfigMaps
// and Namespaces, a rate-limited work queue, one worker. It copies ConfigMaps
// labelled wasm.io/replicate=true into every namespace labelled
// wasm.io/replicate-configmaps=true, keeps the copies in step with their
// source, and deletes them when the source goes away.
//
// It is the native side of make bench-system. Its flags narrow what it
// watches so that many instances can run side by side, each on its own
// objects:
//
//	native-replicator --kubeconfig=K --namespaces=src,dst --source-selector=set=1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "native-replicator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kubeconfig = flag.String("kubeconfig", "", "kubeconfig of the cluster (empty: in-cluster)")
		namespaces = flag.String("namespaces", "", "comma-separated namespaces whose ConfigMaps are watched (empty: all)")
		nsSelector = flag.String("namespace-selector", "", "label selector that restricts the namespaces watched")
		srcSel     = flag.String("source-selector", "", "label selector of the sources whose events wake the controller (empty: all)")
	)
	klog.InitFlags(nil)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig[%s]: %w", *kubeconfig, err)
	}
	cfg.UserAgent = "native-replicator"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var scopes []string
	if *namespaces != "" {
		scopes = strings.Split(*namespaces, ",")
	}
	c := newController(client, scopes, *nsSelector, 10*time.Minute)
	if *srcSel != "" {
		if c.sources, err = labels.Parse(*srcSel); err != nil {
			return fmt.Errorf("source-selector[%s]: %w", *srcSel, err)
		}
	}
	return c.Run(ctx)
}
