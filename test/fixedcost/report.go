package main

import (
	"fmt"
	"io"
	"strings"
)

// printTable writes the breakdowns of bins side by side as a markdown
// table, in MiB.
func printTable(w io.Writer, bins []string, results []breakdown) {
	fmt.Fprintf(w, "| PSS, MiB | %s |\n", strings.Join(bins, " | "))
	fmt.Fprintf(w, "| --- |%s\n", strings.Repeat(" --- |", len(bins)))
	row := func(name string, value func(breakdown) int64) {
		cells := make([]string, len(results))
		for i, b := range results {
			cells[i] = fmt.Sprintf("%.1f", float64(value(b))/1024)
		}
		fmt.Fprintf(w, "| %s | %s |\n", name, strings.Join(cells, " | "))
	}
	row("**total PSS**", breakdown.total)
	for _, k := range kinds {
		row(k, func(b breakdown) int64 { return b.pss[k] })
	}
	row("RSS", func(b breakdown) int64 { return b.rss })
	// The executable's sections, resident, in the order of the first
	// binary; sections with nothing resident anywhere are left out.
	for _, name := range results[0].sectionNames {
		var any int64
		for _, b := range results {
			any += b.sections[name]
		}
		if any >= 64 {
			row("resident "+name, func(b breakdown) int64 { return b.sections[name] })
		}
	}
}
