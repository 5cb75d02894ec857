package signin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// claims are what the daemon reads from its own access token, for display
// and expiry only: the edge verifies tokens, the daemon never trusts these.
type claims struct {
	Email   string
	Subject string
	Expiry  time.Time
}

// maxJWT bounds a token the daemon decodes.
const maxJWT = 16 << 10

// peekClaims decodes a JWT's payload without verifying it.
func peekClaims(tok string) (claims, error) {
	if len(tok) > maxJWT {
		return claims{}, errors.New("token is too long")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return claims{}, errors.New("token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, errors.New("token payload is not base64url")
	}
	var c struct {
		Email string   `json:"email"`
		Sub   string   `json:"sub"`
		Exp   *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, errors.New("token payload is not a JSON object")
	}
	out := claims{Email: c.Email, Subject: c.Sub}
	if c.Exp != nil && *c.Exp > 0 && *c.Exp < 1e11 {
		out.Expiry = time.Unix(int64(*c.Exp), 0)
	}
	return out, nil
}
