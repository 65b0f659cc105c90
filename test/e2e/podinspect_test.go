//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// containerProcess is what the kernel says of a container's main process
// on the local node: the tests run on the node's host, as root.
type containerProcess struct {
	pid int
	// status holds the fields of /proc/PID/status by name (Uid, CapEff, ...).
	status map[string]string
	// rootOptions are the mount options of the process's root filesystem.
	rootOptions []string
}

// findContainerProcess finds the process named comm in the cgroup of the
// container with the given ID (the kubelet's cgroups end in the ID).
func findContainerProcess(t *testing.T, containerID, comm string) *containerProcess {
	t.Helper()
	id := containerID[strings.Index(containerID, "://")+3:]
	cgroups, err := filepath.Glob("/proc/[0-9]*/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range cgroups {
		dir := filepath.Dir(file)
		b, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(b), id) {
			continue
		}
		if name, _ := os.ReadFile(filepath.Join(dir, "comm")); strings.TrimSpace(string(name)) != comm {
			continue
		}
		p := &containerProcess{status: map[string]string{}}
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				p.status[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		p.rootOptions = rootMountOptions(t, filepath.Join(dir, "mountinfo"))
		return p
	}
	t.Fatalf("no process %q in the cgroup of container %s", comm, id)
	return nil
}

// rootMountOptions reads the options of the mount at "/" from a mountinfo
// file (the last one wins, as a later mount hides an earlier one).
func rootMountOptions(t *testing.T, mountinfo string) []string {
	t.Helper()
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	var opts []string
	for _, line := range strings.Split(string(b), "\n") {
		// Field 5 is the mount point, field 6 the per-mount options.
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			opts = strings.Split(f[5], ",")
		}
	}
	return opts
}

// podLifetimes watches the pods of a selector and records the most that
// existed at once: a pod counts from its creation until it is deleted from
// the API, which the kubelet does only once its containers have stopped.
type podLifetimes struct {
	mu      sync.Mutex
	live    map[types.UID]string
	most    int
	overlap []string
	stop    func()
	done    chan struct{}
}

// watchPodLifetimes starts watching; stop it with podLifetimes.close.
func watchPodLifetimes(t *testing.T, kubeconfig, namespace, selector string) *podLifetimes {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	pods := kubernetes.NewForConfigOrDie(cfg).CoreV1().Pods(namespace)
	list, err := pods.List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(t.Context(), metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	l := &podLifetimes{live: map[types.UID]string{}, stop: w.Stop, done: make(chan struct{})}
	for i := range list.Items {
		l.observe(watch.Added, &list.Items[i])
	}
	go func() {
		defer close(l.done)
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				l.observe(ev.Type, pod)
			}
		}
	}()
	t.Cleanup(l.close)
	return l
}

func (l *podLifetimes) observe(typ watch.EventType, pod *corev1.Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch typ {
	case watch.Added, watch.Modified:
		l.live[pod.UID] = pod.Name
	case watch.Deleted:
		delete(l.live, pod.UID)
	}
	if len(l.live) > l.most {
		l.most = len(l.live)
		l.overlap = l.overlap[:0]
		for uid, name := range l.live {
			l.overlap = append(l.overlap, name+"("+string(uid)+")")
		}
	}
}

// close stops the watch; safe to call more than once.
func (l *podLifetimes) close() {
	l.stop()
	<-l.done
}

// mostAtOnce is the most pods that existed at once, and which they were.
func (l *podLifetimes) mostAtOnce() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.most, append([]string(nil), l.overlap...)
}
