package edge

import (
	"context"
	"log/slog"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// AuditRecord is one line of the audit log (JSON, one per client stream).
// It never holds the token.
type AuditRecord struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"` // "stream"
	EdgeID   string    `json:"edge_id"`
	StreamID string    `json:"stream_id"`
	User     string    `json:"user,omitempty"` // the token's email
	Subject  string    `json:"subject,omitempty"`
	// Groups are the token's groups; Provider who vouched for the user:
	// the upstream provider's name, "users" for the built-in list, empty
	// for a service token.
	Groups   []string `json:"groups,omitempty"`
	Provider string   `json:"provider,omitempty"`
	// TokenAudience is the apps the stream's verified token names: one for
	// a daemon that narrows its sign-in per app, every app of the sign-in
	// for an older one (issue 10 item 1).
	TokenAudience []string `json:"token_aud,omitempty"`
	App           string   `json:"app,omitempty"`
	Target        string   `json:"target,omitempty"`
	Tunnel        string   `json:"tunnel,omitempty"`
	ClientConn    string   `json:"client_conn"`
	ClientAddr    string   `json:"client_addr"`
	// ClientTransport is the client connection's: "quic", or "tcp" (TLS
	// on TCP, where UDP to the edge is dropped).
	ClientTransport string    `json:"client_transport"`
	ConnectorConn   string    `json:"connector_conn,omitempty"`
	Code            wire.Code `json:"code"`
	Outcome         string    `json:"outcome"` // the code's slug: ok, forbidden, ...
	Message         string    `json:"message,omitempty"`
	RelayError      string    `json:"relay_error,omitempty"` // how an allowed stream ended, if not cleanly
	BytesFromClient int64     `json:"bytes_from_client"`
	BytesToClient   int64     `json:"bytes_to_client"`
	DurationMS      float64   `json:"duration_ms"`
}

// identify fills in who the stream's verified token (nil: none) names.
func (r *AuditRecord) identify(c *token.Claims) {
	if c == nil {
		return
	}
	r.User, r.Subject, r.TokenAudience, r.Groups = c.Email, c.Subject, c.Audience, c.Groups
	if r.Provider = c.IDPName; r.Provider == "" {
		r.Provider = c.IDP
	}
}

func (s *Server) writeAudit(r *AuditRecord) {
	s.audit.LogAttrs(context.Background(), slog.LevelInfo, "stream",
		slog.String("edge_id", s.edgeID),
		slog.String("stream_id", r.StreamID),
		slog.String("user", r.User),
		slog.String("subject", r.Subject),
		slog.Any("groups", r.Groups),
		slog.String("provider", r.Provider),
		slog.Any("token_aud", r.TokenAudience),
		slog.String("app", r.App),
		slog.String("target", r.Target),
		slog.String("tunnel", r.Tunnel),
		slog.String("client_conn", r.ClientConn),
		slog.String("client_addr", r.ClientAddr),
		slog.String("client_transport", r.ClientTransport),
		slog.String("connector_conn", r.ConnectorConn),
		slog.Int("code", int(r.Code)),
		slog.String("outcome", r.Code.Slug()),
		slog.String("message", r.Message),
		slog.String("relay_error", r.RelayError),
		slog.Int64("bytes_from_client", r.BytesFromClient),
		slog.Int64("bytes_to_client", r.BytesToClient),
		slog.Float64("duration_ms", r.DurationMS),
	)
}
