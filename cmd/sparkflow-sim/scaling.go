package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/sparkflow/sparkflow/shared/sim/scaling"
)

// scalingTable prints the elastic-pool experiments: a pool of up to 6 clusters × 4 slots whose
// clusters take 7 minutes to start, jobs of 10 minutes on average, 30 simulated days shaped as a data
// team's (busy working hours at 70% of the pool, a tenth of that at night, 48 runs at 02:00), equal
// and heavy-tailed sizes; the elastic pool (min 0, 1 or 2, idle timeout 10 or 30 minutes) against the
// same pool fixed at 6 and the clairvoyant bound on cluster-hours.
func scalingTable(w io.Writer) error {
	fmt.Fprintln(w, "| sizes | pool | idle timeout | cluster-hours / day | / bound | mean wait (s) | p95 wait (s) | / fixed's mean wait | launches / day |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	var rows []map[string]any
	for _, heavy := range []bool{false, true} {
		sizes := "exponential"
		if heavy {
			sizes = "heavy-tailed"
		}
		var fixedShown bool
		for _, c := range []struct {
			min        int
			idle       time.Duration
			predictive bool
		}{{0, 10 * time.Minute, false}, {0, 10 * time.Minute, true}, {1, 10 * time.Minute, false}, {1, 10 * time.Minute, true},
			{2, 10 * time.Minute, false}, {2, 10 * time.Minute, true}, {1, 30 * time.Minute, false}, {1, 30 * time.Minute, true}} {
			cfg := scaling.Config{MinClusters: c.min, MaxClusters: 6, Slots: 4, IdleTimeout: c.idle, HeavyTailed: heavy, Days: 30, Seed: 1, AnyWait: !c.predictive}
			r, err := scaling.Run(cfg)
			if err != nil {
				return err
			}
			if !fixedShown {
				fmt.Fprintf(w, "| %s | bound (clairvoyant) | — | %.1f | 1.00 | — | — | — | — |\n", sizes, r.Bound)
				fmt.Fprintf(w, "| %s | fixed 6 | — | %.1f | %.2f | %.0f | %.0f | 1.0 | — |\n", sizes, r.Fixed.ClusterHours, r.Fixed.ClusterHours/r.Bound, r.Fixed.MeanWait, r.Fixed.P95Wait)
				fixedShown = true
				if s, p, ok := scaling.BestSchedule(cfg, 2*r.Fixed.MeanWait); ok {
					fmt.Fprintf(w, "| %s | clairvoyant schedule (%d by day, %d by night, +%d for the burst), the cheapest at ≤ 2 × fixed's wait | — | %.1f | %.2f | %.0f | %.0f | %.1f | %.1f |\n",
						sizes, s.Day, s.Night, s.Burst, p.ClusterHours, p.ClusterHours/r.Bound, p.MeanWait, p.P95Wait, p.MeanWait/r.Fixed.MeanWait, float64(p.Launches)/float64(cfg.Days))
					rows = append(rows, map[string]any{"sizes": sizes, "schedule": s, "schedule_cluster_hours_per_day": p.ClusterHours, "schedule_mean_wait_s": p.MeanWait})
				} else {
					fmt.Fprintf(w, "| %s | clairvoyant schedule: none of at most 6 clusters waits ≤ 2 × fixed's | — | — | — | — | — | — | — |\n", sizes)
				}
			}
			days := float64(cfg.Days)
			rule := "any wait"
			if c.predictive {
				rule = "wait > start-up"
			}
			fmt.Fprintf(w, "| %s | elastic %d..6, launch on %s | %s | %.1f | %.2f | %.0f | %.0f | %.1f | %.1f |\n", sizes, c.min, rule, c.idle, r.Elastic.ClusterHours, r.CostRatio(), r.Elastic.MeanWait, r.Elastic.P95Wait, r.WaitRatio(), float64(r.Elastic.Launches)/days)
			rows = append(rows, map[string]any{"sizes": sizes, "min": c.min, "predictive": c.predictive, "max": 6, "idle_timeout_s": c.idle.Seconds(), "runs": r.Runs,
				"bound_cluster_hours_per_day": r.Bound, "fixed_cluster_hours_per_day": r.Fixed.ClusterHours, "fixed_mean_wait_s": r.Fixed.MeanWait,
				"elastic_cluster_hours_per_day": r.Elastic.ClusterHours, "elastic_mean_wait_s": r.Elastic.MeanWait, "elastic_p95_wait_s": r.Elastic.P95Wait})
		}
	}
	line, _ := json.Marshal(rows)
	fmt.Fprintf(w, "scaling-summary %s\n", line)
	return nil
}
