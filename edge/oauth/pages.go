package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"html/template"
	"net/http"
	"time"
)

const browserCookie = "airlock_browser"

// browserID returns the browser's airlock_browser cookie, setting a new
// one when it has none. Pending sign-ins and form tokens are bound to it.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := newSecret("")
	http.SetCookie(w, &http.Cookie{
		Name: browserCookie, Value: v, Path: "/", MaxAge: int((24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return v
}

// cookieBrowser returns the airlock_browser cookie ("" without one).
func cookieBrowser(r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil {
		return c.Value
	}
	return ""
}

// formToken is the CSRF token of a form: an HMAC of its purpose and the
// browser cookie, so a page of another site cannot forge it.
func (s *Server) formToken(purpose, browser string) string {
	m := hmac.New(sha256.New, s.csrfKey[:])
	m.Write([]byte(purpose + "\x00" + browser))
	return b64(m.Sum(nil))
}

func (s *Server) checkFormToken(purpose, browser, got string) bool {
	return browser != "" && hmac.Equal([]byte(s.formToken(purpose, browser)), []byte(got))
}

// securePage sets the headers of every HTML page: no caching, no
// framing, no scripts.
func securePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

type loginPage struct {
	ReqID, CSRF, Email, Error string
	HasUsers                  bool
	Upstreams                 []upstreamButton
	UserCode                  string // a device sign-in
	Deny                      bool   // the person asked to deny the device
}

// upstreamButton is a login page's "Sign in with …" link.
type upstreamButton struct{ URL, Name, Display string }

type messagePage struct {
	Title, Message, Detail string
}

type devicePage struct {
	CSRF, UserCode, Error string
}

type deniedPage struct {
	Email, Apps string
	Reasons     []string
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	securePage(w)
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Debug("page not written", "page", name, "err", err)
	}
}

func (s *Server) message(w http.ResponseWriter, status int, title, msg, detail string) {
	s.render(w, status, "message", messagePage{Title: title, Message: msg, Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · Airlock</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem 2.2rem;width:100%;max-width:22rem}
h1{font-size:1.25rem;margin:0 0 1.2rem}
.brand{font-weight:600;letter-spacing:.02em;color:#4b5568;font-size:.85rem;text-transform:uppercase;margin-bottom:.4rem}
label{display:block;font-size:.9rem;margin:.9rem 0 .3rem}
input[type=email],input[type=password],input[type=text]{box-sizing:border-box;width:100%;padding:.55rem .6rem;border:1px solid #c5cad3;border-radius:6px;font-size:1rem}
button,.button{display:inline-block;box-sizing:border-box;width:100%;margin-top:1.2rem;padding:.6rem;border:0;border-radius:6px;background:#2455c3;color:#fff;font-size:1rem;cursor:pointer;text-align:center;text-decoration:none}
button.secondary{background:#e6e8ec;color:#1d2330;margin-top:.6rem}
.error{background:#fdecea;color:#8a1c12;border-radius:6px;padding:.6rem .7rem;font-size:.9rem}
.code{font-family:ui-monospace,monospace;font-size:1.3rem;letter-spacing:.15em;text-align:center}
.or{text-align:center;color:#7a8394;font-size:.85rem;margin-top:1rem}
p{line-height:1.45}
</style></head><body><main><div class="brand">Airlock</div>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "login"}}{{template "head" "Sign in"}}
<h1>Sign in{{if .UserCode}} to {{if .Deny}}deny{{else}}approve{{end}} device {{.UserCode}}{{end}}</h1>
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
{{if .HasUsers}}
<form method="post" action="/oauth/login">
<input type="hidden" name="req" value="{{.ReqID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="email">Email</label>
<input type="email" id="email" name="email" value="{{.Email}}" autocomplete="username" required{{if not .Email}} autofocus{{end}}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required{{if .Email}} autofocus{{end}}>
{{if .Deny}}<button type="submit" id="submit" name="action" value="deny">Sign in and deny the device</button>
{{else}}<button type="submit" id="submit" name="action" value="login">Sign in</button>
{{if .UserCode}}<button type="submit" class="secondary" id="deny" name="action" value="deny">Sign in and deny this device</button>{{end}}{{end}}
</form>
{{end}}
{{if .Upstreams}}{{if .HasUsers}}<p class="or">or</p>{{end}}
{{range $i, $u := .Upstreams}}<a class="button" id="upstream{{if $i}}-{{$u.Name}}{{end}}" data-provider="{{$u.Name}}" href="{{$u.URL}}">Sign in with {{$u.Display}}</a>
{{end}}{{end}}
{{template "foot"}}{{end}}

{{define "device"}}{{template "head" "Connect a device"}}
<h1>Connect a device</h1>
<p>Enter the code that <code>airlock login</code> printed on the device.</p>
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/device">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="user_code">Code</label>
<input type="text" class="code" id="user_code" name="user_code" value="{{.UserCode}}" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>
<button type="submit" id="continue" name="action" value="continue">Continue</button>
<button type="submit" class="secondary" id="deny" name="action" value="deny">Deny</button>
</form>
{{template "foot"}}{{end}}

{{define "denied"}}{{template "head" "Not allowed"}}
<h1 id="title">Not allowed</h1>
<p id="message">You ({{.Email}}) are not allowed to use {{.Apps}}.</p>
<ul class="error" id="reasons">{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>
<p>Ask your administrator for access: the edge's policy for the app decides.</p>
{{template "foot"}}{{end}}

{{define "message"}}{{template "head" .Title}}
<h1 id="title">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Detail}}<p class="error" id="detail">{{.Detail}}</p>{{end}}
{{template "foot"}}{{end}}
`))
