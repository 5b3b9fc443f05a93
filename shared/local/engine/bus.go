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
	ev []byte
	at time.Time
}

// busWorkers is how many events are handled at once.
const busWorkers = 16

// busRetries is how often a failed delivery is tried again (EventBridge retries for up to 24 h; a
// local engine that restarts is repaired by the reconciler instead).
const busRetries = 5

func newBus(filter func([]byte) [][]byte, log *slog.Logger) *bus {
	b := &bus{filter: filter, log: log}
	for i := 0; i < busWorkers; i++ {
		l := &lane{}
		l.cond = sync.NewCond(&l.mu)
		b.lanes = append(b.lanes, l)
	}
	return b
}

// laneOf is the lane of an event: by its step id, or its cluster id (emrevent.OrderKey).
func (b *bus) laneOf(ev []byte) *lane {
	h := fnv.New32a()
	h.Write([]byte(emrevent.OrderKey(ev)))
	return b.lanes[h.Sum32()%uint32(len(b.lanes))]
}

func (b *bus) publish(ev []byte) {
	evs := [][]byte{ev}
	if b.filter != nil {
		evs = b.filter(ev)
	}
	for _, e := range evs {
		l := b.laneOf(e)
		l.mu.Lock()
		if !l.closed {
			l.queue = append(l.queue, queued{e, time.Now()})
			l.cond.Signal()
		}
		l.mu.Unlock()
	}
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
				ev := l.queue[0].ev
				l.queue[0] = queued{}
				l.queue = l.queue[1:]
				l.mu.Unlock()
				b.deliver(ctx, ev)
			}
		}(l)
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
