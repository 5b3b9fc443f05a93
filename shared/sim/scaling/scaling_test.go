package scaling

import (
	"testing"
	"time"
)

// TestElasticPoolKeepsItsBoundsAndCostsLess: over simulated days, the elastic pool never has more
// clusters up than its maximum, never fewer kept than its minimum once they started, costs less than
// the fixed pool at its maximum and no less than the clairvoyant bound, and serves every run.
func TestElasticPoolKeepsItsBoundsAndCostsLess(t *testing.T) {
	for _, c := range []Config{
		{MinClusters: 1, MaxClusters: 6, Slots: 4, Days: 5, Seed: 3},
		{MinClusters: 0, MaxClusters: 4, Slots: 2, Days: 5, Seed: 4, HeavyTailed: true},
	} {
		r, err := Run(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Trace {
			if p.Live > c.MaxClusters {
				t.Fatalf("%+v: %d clusters up at %.0f s, over the maximum %d", c, p.Live, p.At, c.MaxClusters)
			}
			if p.At > 0 && p.Kept < c.MinClusters {
				t.Fatalf("%+v: %d kept clusters at %.0f s, under the minimum %d", c, p.Kept, p.At, c.MinClusters)
			}
		}
		if r.Elastic.MaxLive != c.MaxClusters {
			t.Errorf("%+v: the elastic pool peaked at %d clusters; the nightly burst should take it to %d", c, r.Elastic.MaxLive, c.MaxClusters)
		}
		if !(r.Bound <= r.Elastic.ClusterHours && r.Elastic.ClusterHours < r.Fixed.ClusterHours) {
			t.Errorf("%+v: cluster-hours a day: bound %.1f, elastic %.1f, fixed %.1f: want bound ≤ elastic < fixed", c, r.Bound, r.Elastic.ClusterHours, r.Fixed.ClusterHours)
		}
		if want := float64(c.MaxClusters) * 24; r.Fixed.ClusterHours < want*0.99 || r.Fixed.ClusterHours > want*1.01 {
			t.Errorf("%+v: the fixed pool ran %.1f cluster-hours a day, want %.0f", c, r.Fixed.ClusterHours, want)
		}
		if r.Elastic.MeanWait < r.Fixed.MeanWait {
			t.Errorf("%+v: the elastic pool waits less (%.0f s) than the fixed one at its maximum (%.0f s)", c, r.Elastic.MeanWait, r.Fixed.MeanWait)
		}
	}
}

func TestRunRefusesABadConfig(t *testing.T) {
	for _, c := range []Config{{MinClusters: 3, MaxClusters: 2, Slots: 1}, {MaxClusters: 0, Slots: 1}, {MaxClusters: 2, Slots: 1, PeakLoad: 1}} {
		if _, err := Run(c); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

func TestSameSeedSameFigures(t *testing.T) {
	c := Config{MinClusters: 1, MaxClusters: 3, Slots: 2, Days: 2, Seed: 9, StartUp: 5 * time.Minute}
	a, _ := Run(c)
	b, _ := Run(c)
	if a.Elastic != b.Elastic || a.Fixed != b.Fixed || a.Bound != b.Bound {
		t.Fatalf("two runs of one seed differ: %+v / %+v", a.Elastic, b.Elastic)
	}
}

// TestBestScheduleMeetsItsWait: the best clairvoyant schedule keeps the mean wait it was asked for,
// costs no less than the bound, and no more than the fixed pool; asked for the fixed pool's own
// wait, it still saves (the nights), and a looser wait never costs more.
func TestBestScheduleMeetsItsWait(t *testing.T) {
	c := Config{MinClusters: 1, MaxClusters: 4, Slots: 2, Days: 3, Seed: 5}
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	s, p, ok := BestSchedule(c, 2*r.Fixed.MeanWait)
	if !ok {
		t.Fatalf("no schedule of at most %d clusters waits ≤ 2 × the fixed pool's %.0f s", c.MaxClusters, r.Fixed.MeanWait)
	}
	if p.MeanWait > 2*r.Fixed.MeanWait || p.ClusterHours < r.Bound || p.ClusterHours > r.Fixed.ClusterHours {
		t.Fatalf("best schedule %+v: %.1f cluster-hours a day at %.0f s; bound %.1f, fixed %.1f at %.0f s", s, p.ClusterHours, p.MeanWait, r.Bound, r.Fixed.ClusterHours, r.Fixed.MeanWait)
	}
	if s.Day < 1 || s.Night+s.Burst > c.MaxClusters || p.MaxLive > c.MaxClusters {
		t.Fatalf("best schedule %+v peaked at %d clusters, over the maximum %d", s, p.MaxLive, c.MaxClusters)
	}
	_, loose, _ := BestSchedule(c, 4*r.Fixed.MeanWait+60)
	if loose.ClusterHours > p.ClusterHours {
		t.Fatalf("a looser wait cost more: %.1f > %.1f cluster-hours a day", loose.ClusterHours, p.ClusterHours)
	}
}
