package engine

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// bus is the local EventBridge: an unbounded in-process queue of EMR events delivered one at a time
// to the handler, retried on transient failure like an EventBridge target. Publishing never blocks, so
// the local clusters can publish while holding their lock.
type bus struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   [][]byte
	closed  bool
	filter  func([]byte) [][]byte
	handle  func(context.Context, []byte) error
	log     *slog.Logger
	done    chan struct{}
	pending sync.WaitGroup
}

// busRetries is how often a failed delivery is tried again (EventBridge retries for up to 24 h; a
// local engine that restarts is repaired by the reconciler instead).
const busRetries = 5

func newBus(filter func([]byte) [][]byte, log *slog.Logger) *bus {
	b := &bus{filter: filter, log: log, done: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *bus) publish(ev []byte) {
	evs := [][]byte{ev}
	if b.filter != nil {
		evs = b.filter(ev)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, e := range evs {
		b.pending.Add(1)
		b.queue = append(b.queue, e)
	}
	b.cond.Signal()
}

func (b *bus) start(ctx context.Context, handle func(context.Context, []byte) error) {
	b.handle = handle
	go func() {
		defer close(b.done)
		for {
			b.mu.Lock()
			for len(b.queue) == 0 && !b.closed {
				b.cond.Wait()
			}
			if b.closed {
				b.mu.Unlock()
				return
			}
			ev := b.queue[0]
			b.queue = b.queue[1:]
			b.mu.Unlock()
			b.deliver(ctx, ev)
			b.pending.Done()
		}
	}()
}

func (b *bus) deliver(ctx context.Context, ev []byte) {
	for i := 0; ; i++ {
		err := b.handle(ctx, ev)
		if err == nil || ctx.Err() != nil {
			return
		}
		if sparkflow.IsCode(err, sparkflow.Invalid) || i >= busRetries {
			b.log.Error("event not handled", "err", err, "event", string(ev))
			return
		}
		time.Sleep(time.Duration(50*(i+1)) * time.Millisecond)
	}
}

func (b *bus) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	if b.handle != nil {
		<-b.done
	}
}
