package sim

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The world of a schedule: one pool of one or two clusters with one to three slots each, a transform
// with one to three attempts, two to six runs.
func (s *Sim) world() (sparkflow.Pool, sparkflow.Transform) {
	p := sparkflow.Pool{Name: "p", Tier: "tiny", Clusters: 1 + s.rng.IntN(2), StepConcurrency: 1 + s.rng.IntN(3)}
	t := sparkflow.Transform{Name: "t", Pool: "p", Kind: sparkflow.KindCommand, Command: []string{"true"}, MaxAttempts: 1 + s.rng.IntN(3),
		TimeoutSeconds: 6 * 3600, QueueTimeoutSeconds: 6 * 3600}
	if s.prof.ShortTimeouts && s.rng.IntN(2) == 0 {
		t.TimeoutSeconds, t.QueueTimeoutSeconds = 30+s.rng.IntN(300), 30+s.rng.IntN(300)
	}
	s.toSubmit = 2 + s.rng.IntN(5)
	// One world in three limits the transform's concurrent runs (the others wait BLOCKED for a
	// place). Drawn apart, so that a seed's schedule is otherwise what it was before limits came.
	if g := rand.New(rand.NewPCG(s.seed, 0x11a1)); g.IntN(3) == 0 {
		t.MaxConcurrent = 1 + g.IntN(2)
	}
	// One world in four has an elastic pool of up to two clusters, keeping none or one: the others
	// are launched when runs wait (and none at all with nothing kept until the first run waits), and
	// EMR ends them after their idle timeout.
	if g := rand.New(rand.NewPCG(s.seed, 0xe1a5)); g.IntN(4) == 0 {
		min := g.IntN(2)
		// Idle timeouts short enough that EMR ends idle clusters within a schedule (and runs meet
		// clusters draining before that end), drawn apart from the rest.
		idle := []int{60, 120, 600}[rand.New(rand.NewPCG(s.seed, 0x1d1e)).IntN(3)]
		p.Clusters, p.MinClusters, p.IdleTimeoutSeconds = 2, &min, idle
	}
	return p, t
}

func (s *Sim) schedule() {
	ctx := context.Background()
	p, t := s.world()
	s.maxConcurrent = t.MaxConcurrent
	elastic := "fixed"
	if p.MinClusters != nil {
		elastic = fmt.Sprintf("elastic from %d", *p.MinClusters)
	}
	s.tracef("world: pool of %d clusters (%s) x %d slots, %d attempts, timeouts %ds/%ds, %d runs, max concurrent %d, profile %s",
		p.Clusters, elastic, p.StepConcurrency, t.MaxAttempts, t.TimeoutSeconds, t.QueueTimeoutSeconds, s.toSubmit, t.MaxConcurrent, s.prof.Name)
	s.spawn("create pool", kindSetup, func() (any, error) {
		if _, err := s.svc.CreatePool(ctx, p); err != nil {
			return nil, err
		}
		_, err := s.svc.CreateTransform(ctx, t)
		return nil, err
	}, func(_ any, err error, _ bool) {
		if err != nil {
			s.violate("setup", "create the pool: %v", err)
		}
	})
	// Setup: the pool's clusters become ready.
	for s.phase = setup; s.step < 2000 && len(s.violations) == 0; s.step++ {
		if !s.act() {
			break
		}
	}
	for i := 0; i < s.toSubmit; i++ {
		s.requests = append(s.requests, request{req: sparkflow.RunRequest{ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1), Transform: "t"}})
	}
	s.nextRecon = s.now.Add(ReconcilePeriod)
	s.phase = chaos
	s.tracef("chaos begins")
	for start := s.step; s.step-start < chaosSteps && len(s.violations) == 0; s.step++ {
		if !s.act() || s.allEnded() {
			break
		}
		s.check()
	}
	if len(s.violations) > 0 {
		return
	}
	s.phase = heal
	healStart := s.now
	s.tracef("heal begins: faults off")
	for start := s.step; len(s.violations) == 0; s.step++ {
		if s.settled() {
			s.checkSettled()
			return
		}
		if s.step-start > healSteps || s.now.Sub(healStart) > healDuration || !s.act() {
			s.violate("settles", "after the faults stopped, the schedule did not settle within %s: %s", healDuration, s.stuck())
			return
		}
		s.check()
	}
}
