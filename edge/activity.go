package edge

import "sync"

// activity counts work in progress and tells when there is none.
type activity struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0; replaced when n leaves 0
}

func newActivity() *activity {
	ch := make(chan struct{})
	close(ch)
	return &activity{idle: ch}
}

func (a *activity) add() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		a.idle = make(chan struct{})
	}
	a.n++
}

func (a *activity) done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n--
	if a.n == 0 {
		close(a.idle)
	}
}

// wait returns a channel that is closed once nothing is in progress.
func (a *activity) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idle
}
