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
			min  int
			idle time.Duration
		}{{0, 10 * time.Minute}, {1, 10 * time.Minute}, {2, 10 * time.Minute}, {1, 30 * time.Minute}} {
			cfg := scaling.Config{MinClusters: c.min, MaxClusters: 6, Slots: 4, IdleTimeout: c.idle, HeavyTailed: heavy, Days: 30, Seed: 1}
			r, err := scaling.Run(cfg)
			if err != nil {
				return err
			}
			if !fixedShown {
				fmt.Fprintf(w, "| %s | bound (clairvoyant) | — | %.1f | 1.00 | — | — | — | — |\n", sizes, r.Bound)
				fmt.Fprintf(w, "| %s | fixed 6 | — | %.1f | %.2f | %.0f | %.0f | 1.0 | — |\n", sizes, r.Fixed.ClusterHours, r.Fixed.ClusterHours/r.Bound, r.Fixed.MeanWait, r.Fixed.P95Wait)
				fixedShown = true
			}
			days := float64(cfg.Days)
			fmt.Fprintf(w, "| %s | elastic %d..6 | %s | %.1f | %.2f | %.0f | %.0f | %.1f | %.1f |\n", sizes, c.min, c.idle, r.Elastic.ClusterHours, r.CostRatio(), r.Elastic.MeanWait, r.Elastic.P95Wait, r.WaitRatio(), float64(r.Elastic.Launches)/days)
			rows = append(rows, map[string]any{"sizes": sizes, "min": c.min, "max": 6, "idle_timeout_s": c.idle.Seconds(), "runs": r.Runs,
				"bound_cluster_hours_per_day": r.Bound, "fixed_cluster_hours_per_day": r.Fixed.ClusterHours, "fixed_mean_wait_s": r.Fixed.MeanWait,
				"elastic_cluster_hours_per_day": r.Elastic.ClusterHours, "elastic_mean_wait_s": r.Elastic.MeanWait, "elastic_p95_wait_s": r.Elastic.P95Wait})
		}
	}
	line, _ := json.Marshal(rows)
	fmt.Fprintf(w, "scaling-summary %s\n", line)
	return nil
}
