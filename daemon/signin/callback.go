package signin

import (
	"context"
	"crypto/subtle"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"time"
)

// callbackPath is the path of the loopback redirect URI.
const callbackPath = "/callback"

// callbackResult is what the browser brought back: a code, or the edge's
// refusal.
type callbackResult struct {
	code string
	err  *OAuthError
	// outcome receives the sign-in's result, for the page the browser
	// shows; buffered.
	outcome chan error
}

// callback is the loopback listener of one authorization code flow. It
// hands the first request with the right state to results and shows the
// sign-in's outcome in the browser.
type callback struct {
	state    string
	edge     string
	results  chan callbackResult
	srv      *http.Server
	redirect string
}

// listenCallback opens the loopback listener on 127.0.0.1, port 0.
func listenCallback(ctx context.Context, edge, state string) (*callback, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("open the loopback redirect listener: %w", err)
	}
	cb := &callback{
		state:    state,
		edge:     edge,
		results:  make(chan callbackResult, 1),
		redirect: fmt.Sprintf("http://%s%s", ln.Addr(), callbackPath),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(callbackPath, cb.handle)
	cb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go cb.srv.Serve(ln)
	return cb, nil
}

// close stops the listener, giving the page being served a moment.
func (cb *callback) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cb.srv.Shutdown(ctx)
}

func (cb *callback) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(cb.state)) != 1 {
		// A stale tab or a forged request: not this sign-in's answer.
		page(w, http.StatusBadRequest, "Sign-in link out of date", "This page does not belong to the sign-in Airlock is waiting for (its state does not match). Close it and use the newest sign-in tab.")
		return
	}
	res := callbackResult{code: q.Get("code"), outcome: make(chan error, 1)}
	if e := q.Get("error"); e != "" {
		res.err = &OAuthError{Code: e, Description: q.Get("error_description")}
	} else if res.code == "" {
		res.err = &OAuthError{Code: "invalid_request", Description: "the redirect carried neither a code nor an error"}
	}
	select {
	case cb.results <- res:
	default:
		page(w, http.StatusConflict, "Already answered", "This sign-in has been answered already. You can close this tab.")
		return
	}
	var outcome error
	select {
	case outcome = <-res.outcome:
	case <-r.Context().Done():
		return
	case <-time.After(time.Minute):
		outcome = fmt.Errorf("no answer from the daemon")
	}
	if outcome != nil {
		page(w, http.StatusForbidden, "Sign-in failed", fmt.Sprintf("Airlock could not sign you in at edge %s: %v", cb.edge, outcome))
		return
	}
	page(w, http.StatusOK, "Signed in", fmt.Sprintf("Airlock is signed in at edge %s. You can close this tab; your command goes on by itself.", cb.edge))
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Airlock: {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}</style></head>
<body><h1 id="title">{{.Title}}</h1><p id="message">{{.Message}}</p></body></html>
`))

func page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	pageTmpl.Execute(w, struct{ Title, Message string }{title, msg})
}
