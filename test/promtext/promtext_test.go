package promtext

import "testing"

const page = `# TYPE apiserver_longrunning_requests gauge
apiserver_longrunning_requests{resource="configmaps",scope="cluster",verb="WATCH"} 2
apiserver_longrunning_requests{resource="configmaps",scope="namespace",verb="WATCH"} 3
apiserver_longrunning_requests{resource="secrets",scope="cluster",verb="WATCH"} 5
# TYPE wasm_apiserver_guests_active gauge
wasm_apiserver_guests_active 1
# TYPE wasm_apiserver_resume_duration_seconds histogram
wasm_apiserver_resume_duration_seconds_bucket{from="init",le="+Inf"} 4
wasm_apiserver_resume_duration_seconds_sum{from="init"} 0.01
wasm_apiserver_resume_duration_seconds_count{from="init"} 4
`

func TestSum(t *testing.T) {
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{name: "every series", metric: "apiserver_longrunning_requests", want: 10},
		{name: "one label", metric: "apiserver_longrunning_requests", labels: []string{`resource="configmaps"`}, want: 5},
		{name: "two labels", metric: "apiserver_longrunning_requests", labels: []string{`resource="configmaps"`, `scope="cluster"`}, want: 2},
		{name: "a value that is a prefix of another does not match", metric: "apiserver_longrunning_requests", labels: []string{`resource="config"`}},
		{name: "no labels", metric: "wasm_apiserver_guests_active", want: 1},
		{name: "histogram count", metric: "wasm_apiserver_resume_duration_seconds", labels: []string{`from="init"`}, want: 4},
		{name: "missing metric", metric: "nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sum([]byte(page), tt.metric, tt.labels...)
			if err != nil || got != tt.want {
				t.Errorf("Sum = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestSumBy(t *testing.T) {
	got, err := SumBy([]byte(page), "apiserver_longrunning_requests", []string{"resource", "verb"})
	want := map[string]float64{"configmaps WATCH": 5, "secrets WATCH": 5}
	if err != nil || len(got) != len(want) || got["configmaps WATCH"] != 5 || got["secrets WATCH"] != 5 {
		t.Errorf("SumBy = %v, %v; want %v", got, err, want)
	}
	got, err = SumBy([]byte(page), "wasm_apiserver_guests_active", []string{"resource"})
	if err != nil || len(got) != 1 || got[""] != 1 {
		t.Errorf("SumBy of a metric without the label = %v, %v; want one empty key", got, err)
	}
}
