package sim

import (
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// SQLiteMemory opens a throwaway SQLite store, the embedded home's.
func SQLiteMemory() (sparkflow.Store, func(), error) {
	db, err := sqlitestore.Open(":memory:")
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// ResumeOf is where the restarted local engine resumes a run's workflow (the engine's own rule).
func ResumeOf(r sparkflow.Run) *workflow.Resume { return engine.ResumeOf(r) }
