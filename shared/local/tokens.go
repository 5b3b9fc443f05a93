package local

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// result is what resumes a waiting task: output on success, or an error name and cause.
type result struct {
	output  []byte
	errName string
	cause   string
}

// tokens is the local Step Functions task-token service: a waiting workflow registers a token, and
// SendTaskSuccess/SendTaskFailure resume it once. A token not waited on is NotFound, as with
// Step Functions' TaskDoesNotExist/TaskTimedOut.
type tokens struct {
	mu      sync.Mutex
	waiting map[string]chan result
}

var _ sparkflow.Callbacks = (*tokens)(nil)

func newTokens() *tokens { return &tokens{waiting: map[string]chan result{}} }

func (t *tokens) register() (string, chan result) {
	tok := uuid.NewString()
	ch := make(chan result, 1)
	t.mu.Lock()
	t.waiting[tok] = ch
	t.mu.Unlock()
	return tok, ch
}

func (t *tokens) drop(tok string) {
	t.mu.Lock()
	delete(t.waiting, tok)
	t.mu.Unlock()
}

func (t *tokens) send(tok string, r result) error {
	t.mu.Lock()
	ch, ok := t.waiting[tok]
	delete(t.waiting, tok)
	t.mu.Unlock()
	if !ok {
		return sparkflow.Errorf(sparkflow.NotFound, "task token is not waited on (timed out, used, or from before a restart)")
	}
	ch <- r
	return nil
}

func (t *tokens) SendTaskSuccess(ctx context.Context, tok string, output []byte) error {
	return t.send(tok, result{output: output})
}

func (t *tokens) SendTaskFailure(ctx context.Context, tok, errName, cause string) error {
	return t.send(tok, result{errName: errName, cause: cause})
}
