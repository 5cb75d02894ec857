package token

// VerifyAny is [Verifier.Verify] for a token whose audience may be any
// one for which want returns true (the first such of its audiences is
// checked): for an endpoint that serves the bearer of any app's token
// rather than one app, such as the edge's catalogue of apps.
func (v *Verifier) VerifyAny(tok string, want func(aud string) bool) (*Claims, error) {
	c := v.cached(tok, v.now())
	if c == nil {
		var err error
		if c, err = parse(tok, v.keys.Load()); err != nil {
			return nil, err
		}
	}
	for _, a := range c.Audience {
		if want(a) {
			return v.Verify(tok, a)
		}
	}
	return nil, errorf(ErrWrongAudience, "token is for %s, none of them here", describeAudience(c.Audience))
}
