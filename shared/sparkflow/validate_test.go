package sparkflow

import (
	"strings"
	"testing"
)

var small = Tier{Name: "small", StepConcurrency: 4}

func TestPoolNormalize(t *testing.T) {
	p := Pool{Name: "etl", Clusters: 3}
	if err := p.Normalize(small); err != nil {
		t.Fatal(err)
	}
	if p.Tier != "small" || p.StepConcurrency != 4 || p.ReleaseLabel != DefaultReleaseLabel || p.Applications[0] != "Spark" {
		t.Fatalf("defaults not filled: %+v", p)
	}
	tests := []struct {
		name  string
		pool  Pool
		field string
		msg   string
	}{
		{"no name", Pool{Clusters: 1}, "name", "is required"},
		{"bad name", Pool{Name: "my pool", Clusters: 1}, "name", "not a valid name"},
		{"zero clusters", Pool{Name: "p"}, "clusters", "between 1 and 100"},
		{"release", Pool{Name: "p", Clusters: 1, ReleaseLabel: "7.5"}, "releaseLabel", "emr-7.5.0"},
		{"concurrency", Pool{Name: "p", Clusters: 1, StepConcurrency: 300}, "stepConcurrency", "between 1 and 256"},
		{"idle", Pool{Name: "p", Clusters: 1, IdleTimeoutSeconds: 30}, "idleTimeoutSeconds", "between 60"},
		{"log uri", Pool{Name: "p", Clusters: 1, LogURI: "/tmp/logs"}, "logUri", "s3://"},
		{"aws tag", Pool{Name: "p", Clusters: 1, Tags: map[string]string{"aws:x": "y"}}, "tags", "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pool.Normalize(small)
			var e *Error
			if err == nil || !IsCode(err, Invalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want an invalid %s error saying %q", err, tc.field, tc.msg)
			}
			if e, _ = err.(*Error); e.Field != tc.field {
				t.Fatalf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
}

func TestTransformNormalize(t *testing.T) {
	tr := Transform{Name: "t", Pool: "p", Command: []string{"echo", "${x}"}, Params: map[string]string{"x": "1"}}
	if err := tr.Normalize(); err != nil {
		t.Fatal(err)
	}
	if tr.Kind != KindCommand || tr.MaxAttempts != DefaultMaxAttempts || tr.TimeoutSeconds != DefaultTimeoutSeconds || tr.QueueTimeoutSeconds != DefaultQueueTimeoutSeconds {
		t.Fatalf("defaults not filled: %+v", tr)
	}
	tests := []struct {
		name string
		tr   Transform
		msg  string
	}{
		{"no pool", Transform{Name: "t", Command: []string{"x"}}, "pool: is required"},
		{"spark without main", Transform{Name: "t", Pool: "p", Kind: KindSpark}, "main jar or script"},
		{"bad kind", Transform{Name: "t", Pool: "p", Kind: "hive"}, "use spark or command"},
		{"command with spark options", Transform{Name: "t", Pool: "p", Kind: KindCommand, Command: []string{"x"}, SparkOptions: []string{"--conf"}}, "belong to spark"},
		{"deploy mode", Transform{Name: "t", Pool: "p", MainResource: "s3://b/j.jar", SparkOptions: []string{"--deploy-mode", "client"}}, "set by SparkFlow"},
		{"python class", Transform{Name: "t", Pool: "p", MainResource: "s3://b/j.py", MainClass: "C"}, "no main class"},
		{"undeclared placeholder", Transform{Name: "t", Pool: "p", Command: []string{"echo", "${day}"}}, "${day} names no parameter"},
		{"reserved param", Transform{Name: "t", Pool: "p", Command: []string{"x"}, Params: map[string]string{"run_id": "1"}}, "set by SparkFlow"},
		{"attempts", Transform{Name: "t", Pool: "p", Command: []string{"x"}, MaxAttempts: 11}, "between 1 and 10"},
		{"timeout", Transform{Name: "t", Pool: "p", Command: []string{"x"}, TimeoutSeconds: -1}, "timeoutSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tr.Normalize()
			if err == nil || !IsCode(err, Invalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want one saying %q", err, tc.msg)
			}
		})
	}
}

func TestResolveParams(t *testing.T) {
	tr := Transform{Name: "t", Params: map[string]string{"day": "1", "region": "eu"}}
	got, err := tr.ResolveParams(map[string]string{"day": "2"})
	if err != nil || got["day"] != "2" || got["region"] != "eu" {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = tr.ResolveParams(map[string]string{"dya": "2"})
	if err == nil || !strings.Contains(err.Error(), `no parameter "dya" (it declares day, region)`) {
		t.Fatalf("typo in an override: %v", err)
	}
	if Expand("a-${day}-${nope}", got) != "a-2-${nope}" {
		t.Fatal("Expand")
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`echo hello`, []string{"echo", "hello"}, false},
		{`python3 etl.py --name "a b" --x 'c d' e\ f`, []string{"python3", "etl.py", "--name", "a b", "--x", "c d", "e f"}, false},
		{`sh -c 'echo "$0"' ''`, []string{"sh", "-c", `echo "$0"`, ""}, false},
		{`  spaced   out  `, []string{"spaced", "out"}, false},
		{`broken "quote`, nil, true},
		{`trailing \`, nil, true},
	}
	for _, tc := range tests {
		got, err := SplitCommand(tc.in)
		if (err != nil) != tc.err || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("SplitCommand(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestStatusOrder(t *testing.T) {
	for _, s := range RunStatuses {
		if s.Terminal() != (s.Rank() == 4) {
			t.Errorf("%s: terminal %v rank %d", s, s.Terminal(), s.Rank())
		}
	}
	for _, s := range ClusterStates {
		if s.Rank() < 0 {
			t.Errorf("cluster state %s has no rank", s)
		}
	}
	for _, s := range StepStates {
		if s.Rank() < 0 {
			t.Errorf("step state %s has no rank", s)
		}
	}
}
