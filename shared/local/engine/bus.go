package engine

import (
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// bus is the local EventBridge: unbounded in-process queues of EMR events delivered to the handler,
// retried on transient failure like an EventBridge target. Publishing never blocks, so the local
// clusters can publish while holding their lock.
//
// Events are handled concurrently by busWorkers lanes, each in order: an event goes to the lane of its
// step (step events) or of its cluster (cluster events), so that a step's or a cluster's events are
// handled in the order they were published, and a burst of one cluster's steps never makes the other
// runs' events wait behind it. (EventBridge promises no order at all; the handlers do not need one.)
type bus struct {
	filter func([]byte) [][]byte
	handle func(context.Context, []byte) error
	// handleGroup handles a step's events that queued up together, in order, at once (one write of
	// its run instead of one an event); nil: one at a time.
	handleGroup func(context.Context, [][]byte) error
	// scope adds an event's log fields to the context it is handled with.
	scope func(context.Context, []byte) context.Context
	log   *slog.Logger
	lanes []*lane
	wg    sync.WaitGroup
}

type lane struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []queued
	closed bool
}

type queued struct {
	ev  []byte
	at  time.Time
	key string // emrevent.Order's
	// busyOrIdle: a cluster's move to RUNNING or WAITING, which a later one replaces while queued
	busyOrIdle bool
	cluster    bool // a cluster's event (key a cluster id), not a step's
}

// maxGroup bounds the events of one step handled at once.
const maxGroup = 8

// busWorkers is how many step events are handled at once, and clusterLanes how many cluster events.
const (
	busWorkers   = 32
	clusterLanes = 4
)

// busRetries is how often a failed delivery is tried again (EventBridge retries for up to 24 h; a
// local engine that restarts is repaired by the reconciler instead).
const busRetries = 5

func newBus(filter func([]byte) [][]byte, log *slog.Logger) *bus {
	b := &bus{filter: filter, log: log}
	for i := 0; i < busWorkers+clusterLanes; i++ {
		l := &lane{}
		l.cond = sync.NewCond(&l.mu)
		b.lanes = append(b.lanes, l)
	}
	return b
}

// laneOf is the lane of an event: by its step id among the step lanes, or by its cluster id among
// the cluster lanes (emrevent.Order). A cluster's events are one lane's, in order, and a burst of
// them (a busy cluster goes RUNNING and WAITING as often as its running steps come down to none)
// never makes a step's event wait behind them.
func (b *bus) laneOf(key string, cluster bool) *lane {
	h := fnv.New32a()
	h.Write([]byte(key))
	if cluster {
		return b.lanes[busWorkers+int(h.Sum32()%clusterLanes)]
	}
	return b.lanes[h.Sum32()%busWorkers]
}

func (b *bus) publish(ev []byte) {
	evs := [][]byte{ev}
	if b.filter != nil {
		evs = b.filter(ev)
	}
	for _, e := range evs {
		key, cluster, busyOrIdle := emrevent.Order(e)
		l := b.laneOf(key, cluster)
		l.mu.Lock()
		if !l.closed && !(busyOrIdle && l.replace(key, e)) {
			l.queue = append(l.queue, queued{ev: e, at: time.Now(), key: key, busyOrIdle: busyOrIdle, cluster: cluster})
			l.cond.Signal()
		}
		l.mu.Unlock()
	}
}

// replace puts ev, a cluster's move to RUNNING or WAITING, in the place of the cluster's last queued
// event if that is one too (unhandled yet: the cluster's state went busy and idle again meanwhile),
// and says whether it did. A busy cluster whose running steps often come down to none sends two such
// events per step; the handler needs only the last. Called with l.mu held.
func (l *lane) replace(key string, ev []byte) bool {
	for i := len(l.queue) - 1; i >= 0; i-- {
		if l.queue[i].key == key {
			if !l.queue[i].busyOrIdle {
				return false
			}
			l.queue[i].ev = ev
			return true
		}
	}
	return false
}

func (b *bus) start(ctx context.Context, handle func(context.Context, []byte) error) {
	b.handle = handle
	for _, l := range b.lanes {
		b.wg.Add(1)
		go func(l *lane) {
			defer b.wg.Done()
			for {
				l.mu.Lock()
				for len(l.queue) == 0 && !l.closed {
					l.cond.Wait()
				}
				if l.closed {
					l.mu.Unlock()
					return
				}
				head := l.queue[0]
				l.queue[0] = queued{}
				l.queue = l.queue[1:]
				group := [][]byte{head.ev}
				if !head.cluster && b.handleGroup != nil {
					group = l.takeStep(head.key, group)
				}
				l.mu.Unlock()
				if len(group) == 1 {
					b.deliver(ctx, head.ev)
				} else {
					b.deliverGroup(ctx, group)
				}
			}
		}(l)
	}
}

// takeStep appends to group the events of step key still queued (in their order; the others keep
// theirs), at most maxGroup in all. Called with l.mu held.
func (l *lane) takeStep(key string, group [][]byte) [][]byte {
	kept := l.queue[:0]
	for _, q := range l.queue {
		if q.key == key && !q.cluster && len(group) < maxGroup {
			group = append(group, q.ev)
			continue
		}
		kept = append(kept, q)
	}
	for i := len(kept); i < len(l.queue); i++ {
		l.queue[i] = queued{}
	}
	l.queue = kept
	return group
}

// deliverGroup is deliver of one step's events, handled at once.
func (b *bus) deliverGroup(ctx context.Context, evs [][]byte) {
	if b.scope != nil {
		ctx = b.scope(ctx, evs[0])
	}
	for i := 0; ; i++ {
		err := b.handleGroup(ctx, evs)
		if err == nil || ctx.Err() != nil {
			return
		}
		if sparkflow.IsCode(err, sparkflow.Invalid) || i >= busRetries {
			for _, ev := range evs {
				b.log.ErrorContext(ctx, "event not handled", "err", err, "event", string(ev))
			}
			return
		}
		time.Sleep(time.Duration(50*(i+1)) * time.Millisecond)
	}
}

func (b *bus) deliver(ctx context.Context, ev []byte) {
	if b.scope != nil {
		ctx = b.scope(ctx, ev)
	}
	for i := 0; ; i++ {
		err := b.handle(ctx, ev)
		if err == nil || ctx.Err() != nil {
			return
		}
		if sparkflow.IsCode(err, sparkflow.Invalid) || i >= busRetries {
			b.log.ErrorContext(ctx, "event not handled", "err", err, "event", string(ev))
			return
		}
		time.Sleep(time.Duration(50*(i+1)) * time.Millisecond)
	}
}

func (b *bus) close() {
	for _, l := range b.lanes {
		l.mu.Lock()
		l.closed = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}
	b.wg.Wait()
}

// backlog is how many events wait to be handled, and since when the oldest waits (zero when none).
func (b *bus) backlog() (n int, oldest time.Time) {
	for _, l := range b.lanes {
		l.mu.Lock()
		n += len(l.queue)
		if len(l.queue) > 0 && (oldest.IsZero() || l.queue[0].at.Before(oldest)) {
			oldest = l.queue[0].at
		}
		l.mu.Unlock()
	}
	return n, oldest
}
