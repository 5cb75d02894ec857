package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestDeadConn: only a connection that is gone makes a failed BEGIN worth
// another try; a refusal by a live server does not.
func TestDeadConn(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"server shut the connection (restart)", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"wrapped", fmt.Errorf("begin: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"wrong password", &pgconn.PgError{Code: "28P01"}, false},
		{"too many connections", &pgconn.PgError{Code: "53300"}, false},
		{"no such database", &pgconn.PgError{Code: "3D000"}, false},
		{"serialization failure (retried elsewhere)", &pgconn.PgError{Code: "40001"}, false},
		{"any other error", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deadConn(tc.err); got != tc.want {
				t.Fatalf("deadConn(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
