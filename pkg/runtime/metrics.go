package runtime

import (
	"strconv"
	"time"

	"k8s.io/component-base/metrics"
)

// runtimeMetrics are what the runtime counts and times as it reloads
// evicted compiled code. What it holds now (resident code, modules over
// the budget) is read from its state when scraped, by a budgetCollector.
// A nil *runtimeMetrics counts nothing.
type runtimeMetrics struct {
	reloads        *metrics.CounterVec
	reloadDuration *metrics.Histogram
	evictions      *metrics.CounterVec
	codeDrops      *metrics.Counter
	sparesTaken    *metrics.Counter
	hotPages       *metrics.Counter
}

// newRuntimeMetrics registers the runtime's metrics on reg, reading its
// state from r; a nil reg registers nothing and counts nothing.
func newRuntimeMetrics(reg metrics.KubeRegistry, r *Runtime) (*runtimeMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &runtimeMetrics{
		reloads: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace: "wasm_apiserver",
			Name:      "compiled_module_reloads_total",
			Help: "Modules whose compiled code was evicted (compiled_module_evictions_total) and was loaded again for a wake, " +
				"by whether the module's code alone is larger than the budget (over_budget: true reloads at every wake).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"over_budget"}),
		reloadDuration: metrics.NewHistogram(&metrics.HistogramOpts{
			Namespace:      "wasm_apiserver",
			Name:           "compiled_module_reload_duration_seconds",
			Help:           "Time to load evicted compiled code again, from the disk cache when there is one.",
			Buckets:        []float64{0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
			StabilityLevel: metrics.ALPHA,
		}),
	}
	m.evictions = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "wasm_apiserver",
		Name:      "compiled_module_evictions_total",
		Help: "Modules that gave up their compiled code, by reason: budget (--compiled-module-budget was full) or " +
			"idle (no guest of the module ran for --compiled-module-idle-unload).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	m.codeDrops = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "wasm_apiserver",
		Name:      "compiled_module_code_drops_total",
		Help: "Times the budget (--compiled-module-budget) took a module's compiled code out of memory without " +
			"evicting the module: its code, mapped from a file under --state-dir, is dropped, and the module's next wake " +
			"maps back what it runs instead of loading the module again.",
		StabilityLevel: metrics.ALPHA,
	})
	m.sparesTaken = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "wasm_apiserver",
		Name:      "spare_instances_taken_total",
		Help: "Wakes that took an instance of their module built ahead of them (--spare-instance-idle) instead of " +
			"instantiating it: restores of a snapshot and starts from a template.",
		StabilityLevel: metrics.ALPHA,
	})
	m.hotPages = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: "wasm_apiserver",
		Name:      "snapshot_hot_pages_copied_total",
		Help: "Pages that restores of snapshots copied into guests' memory before the guest ran, in one call a run rather " +
			"than a page fault each: the pages the wake that took the snapshot wrote.",
		StabilityLevel: metrics.ALPHA,
	})
	for _, c := range []metrics.Registerable{m.reloads, m.reloadDuration, m.evictions, m.codeDrops, m.sparesTaken, m.hotPages} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	if err := reg.CustomRegister(newBudgetCollector(r.budgetState)); err != nil {
		return nil, err
	}
	return m, nil
}

// evicted counts an eviction of a module's compiled code for reason.
func (m *runtimeMetrics) evicted(reason string) {
	if m != nil {
		m.evictions.WithLabelValues(reason).Inc()
	}
}

// codeDropped counts a module whose code eviction dropped, the module
// staying loaded.
func (m *runtimeMetrics) codeDropped() {
	if m != nil {
		m.codeDrops.Inc()
	}
}

// spareTaken counts a wake that took a spare instance.
func (m *runtimeMetrics) spareTaken() {
	if m != nil {
		m.sparesTaken.Inc()
	}
}

// hotPagesCopied counts the pages of hot runs a restore copied in.
func (m *runtimeMetrics) hotPagesCopied(runs []hotRun) {
	if m == nil {
		return
	}
	var pages uint64
	for _, r := range runs {
		pages += r.len / snapshotPage
	}
	m.hotPages.Add(float64(pages))
}

// reloaded counts a reload of a module's evicted compiled code that took
// took.
func (m *runtimeMetrics) reloaded(overBudget bool, took time.Duration) {
	if m != nil {
		m.reloads.WithLabelValues(strconv.FormatBool(overBudget)).Inc()
		m.reloadDuration.Observe(took.Seconds())
	}
}

// budgetState is what the compiled-code budget holds at one moment.
type budgetState struct {
	residentBytes, budgetBytes int64
	// overBudget are the loaded modules whose code alone is over the
	// budget, resident or not.
	overBudget int
	// fileBacked is the compiled code mapped from files (codefile.go).
	fileBacked int64
	// spares are the spare instances kept or being built (spare.go).
	spares int
}

// budgetState reads the runtime's budget state under its lock: a scrape
// calls it.
//
// The code files are read after r.mu is let go: their lock is held while
// a module's code is written to its file (tens of milliseconds), and a
// scrape holding r.mu meanwhile would stall every wake.
func (r *Runtime) budgetState() budgetState {
	r.mu.Lock()
	s := budgetState{residentBytes: r.compiledBytes, budgetBytes: r.cfg.CompiledBudgetBytes, spares: r.spareCount}
	for _, m := range r.modules {
		if m.overBudget() {
			s.overBudget++
		}
	}
	r.mu.Unlock()
	s.fileBacked = r.CodeFileBytes()
	return s
}

// budgetCollector reports the budget's state when metrics are scraped.
type budgetCollector struct {
	metrics.BaseStableCollector
	state                                            func() budgetState
	resident, budget, overBudget, fileBacked, spares *metrics.Desc
}

func newBudgetCollector(state func() budgetState) *budgetCollector {
	gauge := func(name, help string) *metrics.Desc {
		return metrics.NewDesc("wasm_apiserver_"+name, help, nil, nil, metrics.ALPHA, "")
	}
	return &budgetCollector{state: state,
		resident: gauge("compiled_module_bytes", "Estimated resident size of the compiled code of the loaded modules that are not evicted, "+
			"less the native code the budget dropped from modules not woken since."),
		budget: gauge("compiled_module_budget_bytes", "The compiled-code budget (--compiled-module-budget); 0 for none."),
		overBudget: gauge("compiled_modules_over_budget", "Loaded modules whose compiled code alone is larger than the budget, even with their native code dropped: "+
			"evicted as soon as no instance of them is resident, and loaded again at their next wake."),
		fileBacked: gauge("compiled_module_file_backed_bytes", "Compiled code of the loaded modules that is mapped from files "+
			"under --state-dir: the server drops its resident pages when quiet, and a wake maps back what it runs."),
		spares: gauge("spare_instances", "Instances of modules built ahead of a wake, kept or being built (--spare-instance-idle)."),
	}
}

// DescribeWithStability implements metrics.StableCollector.
func (c *budgetCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- c.resident
	ch <- c.budget
	ch <- c.overBudget
	ch <- c.fileBacked
	ch <- c.spares
}

// CollectWithStability implements metrics.StableCollector.
func (c *budgetCollector) CollectWithStability(ch chan<- metrics.Metric) {
	s := c.state()
	ch <- metrics.NewLazyConstMetric(c.resident, metrics.GaugeValue, float64(s.residentBytes))
	ch <- metrics.NewLazyConstMetric(c.budget, metrics.GaugeValue, float64(s.budgetBytes))
	ch <- metrics.NewLazyConstMetric(c.overBudget, metrics.GaugeValue, float64(s.overBudget))
	ch <- metrics.NewLazyConstMetric(c.fileBacked, metrics.GaugeValue, float64(s.fileBacked))
	ch <- metrics.NewLazyConstMetric(c.spares, metrics.GaugeValue, float64(s.spares))
}
