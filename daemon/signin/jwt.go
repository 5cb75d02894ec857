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
	// Family is the sign-in (refresh token family) the token belongs to;
	// Audience the apps it names.
	Family   string
	Audience []string
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
		Email string          `json:"email"`
		Sub   string          `json:"sub"`
		Exp   *float64        `json:"exp"`
		Fam   string          `json:"fam"`
		Aud   json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, errors.New("token payload is not a JSON object")
	}
	out := claims{Email: c.Email, Subject: c.Sub, Family: c.Fam}
	// aud is a string or an array of strings (RFC 7519 4.1.3); anything
	// else names no app.
	var one string
	if json.Unmarshal(c.Aud, &one) == nil && one != "" {
		out.Audience = []string{one}
	} else if json.Unmarshal(c.Aud, &out.Audience) != nil {
		out.Audience = nil
	}
	if c.Exp != nil && *c.Exp > 0 && *c.Exp < 1e11 {
		out.Expiry = time.Unix(int64(*c.Exp), 0)
	}
	return out, nil
}
