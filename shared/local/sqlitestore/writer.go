package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// execer runs the statements of one write: on the writer's connection inside its batch (group
// commit), or inside a transaction of its own.
type execer interface {
	exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	queryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// writer makes the store's writes: exec one statement, do several atomically (fn must leave the
// database as it was when it returns an error).
type writer interface {
	exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	do(ctx context.Context, fn func(execer) error) error
	close() error
}

// groupWriter is group commit: one goroutine owns the writer connection and makes the writes asked
// of it in batches, each batch one transaction (BEGIN IMMEDIATE … COMMIT), every write in the order
// it was asked and each atomic on its own (a statement that fails is undone alone, as SQLite does; a
// do runs under a savepoint). A write returns once its batch has committed, so nothing is reported
// done before it is in the database. Under a burst, hundreds of writes share one commit instead of
// each paying its own.
type groupWriter struct {
	conn  *sql.Conn
	db    *sql.DB
	reqs  chan *writeReq
	stmts map[string]*sql.Stmt // owned by the loop's goroutine
	quit  chan struct{}
	done  chan struct{}
}

type writeReq struct {
	ctx  context.Context
	q    string
	args []any
	fn   func(execer) error
	res  sql.Result
	err  error
	done chan struct{}
}

// maxBatch bounds the writes of one commit.
const maxBatch = 512

func newGroupWriter(db *sql.DB) (*groupWriter, error) {
	conn, err := db.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	g := &groupWriter{conn: conn, db: db, reqs: make(chan *writeReq, maxBatch), stmts: map[string]*sql.Stmt{}, quit: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g, nil
}

func (g *groupWriter) ask(ctx context.Context, r *writeReq) error {
	r.ctx, r.done = ctx, make(chan struct{})
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.done:
		return errors.New("the database is closed")
	}
	select {
	case <-r.done: // once taken, a write is made: its caller learns how it went
		return r.err
	case <-g.done:
		select {
		case <-r.done:
			return r.err
		default:
			return errors.New("the database is closed") // not taken before the store closed
		}
	}
}

func (g *groupWriter) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	r := &writeReq{q: q, args: args}
	err := g.ask(ctx, r)
	return r.res, err
}

func (g *groupWriter) do(ctx context.Context, fn func(execer) error) error {
	return g.ask(ctx, &writeReq{fn: fn})
}

func (g *groupWriter) close() error {
	close(g.quit)
	<-g.done
	for _, st := range g.stmts {
		st.Close()
	}
	return errors.Join(g.conn.Close(), g.db.Close())
}

func (g *groupWriter) loop() {
	defer close(g.done)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		var first *writeReq
		select {
		case first = <-g.reqs:
		case <-g.quit:
			return
		}
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		g.run(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// run makes a batch's writes in one transaction.
func (g *groupWriter) run(batch []*writeReq) {
	ctx := context.Background() // a write taken is made whole, whatever its caller's context does now
	if len(batch) == 1 && batch[0].fn == nil {
		r := batch[0]
		r.res, r.err = g.execStmt(ctx, r.q, r.args...)
		return
	}
	if _, err := g.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		for _, r := range batch {
			r.err = err
		}
		return
	}
	for i, r := range batch {
		if r.fn == nil {
			r.res, r.err = g.execStmt(ctx, r.q, r.args...)
			continue
		}
		sp := fmt.Sprintf("w%d", i)
		if _, err := g.conn.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			r.err = err
			continue
		}
		r.err = r.fn(groupExec{g})
		if r.err != nil {
			g.conn.ExecContext(ctx, "ROLLBACK TO "+sp)
		}
		if _, err := g.conn.ExecContext(ctx, "RELEASE "+sp); err != nil && r.err == nil {
			r.err = err
		}
	}
	if _, err := g.conn.ExecContext(ctx, "COMMIT"); err != nil {
		g.conn.ExecContext(ctx, "ROLLBACK")
		for _, r := range batch {
			r.res, r.err = nil, fmt.Errorf("commit: %w", err)
		}
	}
}

func (g *groupWriter) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := g.stmts[q]; st != nil {
		return st, nil
	}
	st, err := g.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	g.stmts[q] = st
	return st, nil
}

func (g *groupWriter) execStmt(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := g.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// groupExec runs a do's statements on the loop's connection, inside its batch.
type groupExec struct{ g *groupWriter }

func (x groupExec) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return x.g.execStmt(ctx, q, args...)
}

func (x groupExec) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := x.g.stmt(ctx, q)
	if err != nil {
		return x.g.conn.QueryRowContext(ctx, q, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// directWriter writes on a connection pool of one, each do in a transaction of its own (a memory
// database, which the simulation uses: its writes come one at a time anyway).
type directWriter struct{ c *conn }

func (d directWriter) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.c.exec(ctx, q, args...)
}

func (d directWriter) do(ctx context.Context, fn func(execer) error) error {
	tx, err := d.c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(txExec{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

func (d directWriter) close() error { return d.c.close() }

type txExec struct{ tx *sql.Tx }

func (x txExec) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return x.tx.ExecContext(ctx, q, args...)
}

func (x txExec) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return x.tx.QueryRowContext(ctx, q, args...)
}
