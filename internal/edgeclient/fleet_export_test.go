package edgeclient

import "context"

// Candidates resolves f's names and returns the addresses it would try
// for app, best first, without dialling.
func (f *Fleet) Candidates(ctx context.Context, app string) ([]string, error) {
	ms, err := f.candidates(ctx, app)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.addr
	}
	return out, err
}

// Members counts the addresses f keeps a Client for.
func (f *Fleet) Members() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.members)
}
