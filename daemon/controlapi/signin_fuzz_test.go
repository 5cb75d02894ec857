package controlapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
)

func FuzzDecodeLoginBody(f *testing.F) {
	for _, s := range []string{"", `{}`, `{"edge":"main","device":true}`, `{"edge":1}`, `{"x":1}`, `{} {}`, strings.Repeat(" ", maxBody+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", apitype.PathLogin, strings.NewReader(body))
		var req apitype.LoginRequest
		if err := decodeBody(r, &req); err != nil {
			return
		}
		if len(body) > maxBody {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
	})
}
