package localcluster

import (
	"os/exec"
	"sync"
	"time"
)

// pathCache keeps where steps' programs were found on PATH, for pathTTL: exec.LookPath looks at every
// PATH directory (a stat each), which was a good part of a short step's start under a burst; a program
// installed, moved or removed is seen within pathTTL.
type pathCache struct {
	mu sync.Mutex
	m  map[string]pathFound
}

type pathFound struct {
	path string
	err  error
	at   time.Time
}

const pathTTL = 2 * time.Second

// look is exec.LookPath(program), at most pathTTL old.
func (p *pathCache) look(program string) (string, error) {
	now := time.Now()
	p.mu.Lock()
	f, ok := p.m[program]
	p.mu.Unlock()
	if ok && now.Sub(f.at) < pathTTL {
		return f.path, f.err
	}
	path, err := exec.LookPath(program)
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]pathFound{}
	}
	p.m[program] = pathFound{path, err, now}
	p.mu.Unlock()
	return path, err
}
