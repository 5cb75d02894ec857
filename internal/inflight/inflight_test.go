package inflight

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name      string
		steps     string // a: Add, d: Done
		wantCount int64
		wantIdle  bool
	}{
		{"zero value is idle", "", 0, true},
		{"one in progress", "a", 1, false},
		{"one done", "ad", 0, true},
		{"two, one done", "aad", 1, false},
		{"busy again after idle", "ada", 1, false},
		{"idle again", "adaadd", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr Tracker
			for _, s := range tt.steps {
				switch s {
				case 'a':
					tr.Add()
				case 'd':
					tr.Done()
				}
			}
			if got := tr.Count(); got != tt.wantCount {
				t.Errorf("Count = %d, want %d", got, tt.wantCount)
			}
			if got := closed(tr.Idle()); got != tt.wantIdle {
				t.Errorf("Idle closed = %v, want %v", got, tt.wantIdle)
			}
		})
	}
}

// TestIdleChannel: a channel taken while work is in progress closes with
// the last Done, and stays closed when new work starts; the next one is
// open.
func TestIdleChannel(t *testing.T) {
	var tr Tracker
	tr.Add()
	tr.Add()
	idle := tr.Idle()
	tr.Done()
	if closed(idle) {
		t.Fatal("closed with work in progress")
	}
	tr.Done()
	if !closed(idle) {
		t.Fatal("not closed after the last Done")
	}
	tr.Add()
	if !closed(idle) {
		t.Fatal("an old idle channel opened again")
	}
	if closed(tr.Idle()) {
		t.Fatal("the new idle channel is closed with work in progress")
	}
	tr.Done()
}

func TestWait(t *testing.T) {
	t.Run("returns once the last work ends", func(t *testing.T) {
		var tr Tracker
		const n = 8
		for range n {
			tr.Add()
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				<-start
				tr.Done()
			})
		}
		waited := make(chan error, 1)
		go func() { waited <- tr.Wait(context.Background()) }()
		close(start)
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		if c := tr.Count(); c != 0 {
			t.Fatalf("Wait returned with %d in progress", c)
		}
		wg.Wait()
	})
	t.Run("ends with ctx and its cause", func(t *testing.T) {
		var tr Tracker
		tr.Add()
		cause := errors.New("grace over")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		if err := tr.Wait(ctx); !errors.Is(err, cause) {
			t.Fatalf("Wait = %v, want %v", err, cause)
		}
	})
	t.Run("nothing in progress", func(t *testing.T) {
		var tr Tracker
		if err := tr.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDoneWithoutAdd(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Done without Add did not panic")
		}
	}()
	var tr Tracker
	tr.Done()
}
