// Package signintest plays the person at the browser for sign-in tests:
// [FormBrowser] is a signin.Browser that signs in through the edge's
// built-in login page (an HTML form) with net/http and a cookie jar, and
// [ApproveDevice] enters a device code and signs in; [OpenLogin] and
// [LoginPage.Submit] are the two steps of [SignIn], for callers that report
// each (the demo). The end-to-end test of the same page in a real browser
// is internal/systest/e2e (headless Chromium).
package signintest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// FormBrowser signs in as Email with Password whenever the daemon opens a
// URL, in the background like a browser tab. It records every URL opened.
type FormBrowser struct {
	// Client reaches the edge's sign-in server (it must trust the edge's
	// CA); its Jar and CheckRedirect are replaced per sign-in.
	Client *http.Client

	mu       sync.Mutex
	email    string
	password string
	opened   []string
	pages    []string
	errs     []error
	hold     chan struct{}
	wg       sync.WaitGroup
}

// NewFormBrowser returns a browser that signs in as email.
func NewFormBrowser(hc *http.Client, email, password string) *FormBrowser {
	return &FormBrowser{Client: hc, email: email, password: password}
}

// SetUser changes who signs in next.
func (b *FormBrowser) SetUser(email, password string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.email, b.password = email, password
}

// Hold makes the next sign-ins wait until the returned func is called (a
// person who has not finished yet).
func (b *FormBrowser) Hold() (release func()) {
	ch := make(chan struct{})
	b.mu.Lock()
	b.hold = ch
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			if b.hold == ch {
				b.hold = nil
			}
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Open implements signin.Browser: it returns at once and signs in in the
// background.
func (b *FormBrowser) Open(_ context.Context, u string) error {
	b.mu.Lock()
	b.opened = append(b.opened, u)
	email, pw, hold := b.email, b.password, b.hold
	b.mu.Unlock()
	b.wg.Go(func() {
		if hold != nil {
			<-hold
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		page, err := SignIn(ctx, b.Client, u, email, pw)
		b.mu.Lock()
		b.pages = append(b.pages, page)
		if err != nil {
			b.errs = append(b.errs, err)
		}
		b.mu.Unlock()
	})
	return nil
}

// Wait waits for every sign-in started so far.
func (b *FormBrowser) Wait() { b.wg.Wait() }

// Opened returns the URLs opened so far.
func (b *FormBrowser) Opened() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.opened...)
}

// Pages returns the text of the last page of each finished sign-in.
func (b *FormBrowser) Pages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.pages...)
}

// Errors returns the errors of finished sign-ins.
func (b *FormBrowser) Errors() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]error(nil), b.errs...)
}

// SignIn opens authURL (the edge's authorization URL), fills in the login
// form and follows the redirects to the daemon's loopback callback. It
// returns the text of the last page.
func SignIn(ctx context.Context, hc *http.Client, authURL, email, password string) (string, error) {
	p, err := OpenLogin(ctx, hc, authURL)
	if err != nil {
		return p.page, err
	}
	text, _, err := p.Submit(ctx, email, password)
	return text, err
}

// LoginPage is the edge's login page as a browser holds it: the page, the
// URL it came from and the cookies set on the way. [SignIn] is OpenLogin
// and Submit; the two steps apart let a caller report each.
type LoginPage struct {
	c    *http.Client
	page string
	base *url.URL
}

// OpenLogin opens authURL (the edge's authorization URL) with a fresh
// cookie jar and returns the login page it leads to. On error the page
// (possibly empty) is still returned, never nil.
func OpenLogin(ctx context.Context, hc *http.Client, authURL string) (*LoginPage, error) {
	c := clientWithJar(hc)
	page, base, err := get(ctx, c, authURL)
	return &LoginPage{c: c, page: page, base: base}, err
}

// URL is where the login page was served from (after redirects).
func (p *LoginPage) URL() *url.URL { return p.base }

// Text is the login page without its tags.
func (p *LoginPage) Text() string { return text(p.page) }

// Submit fills in the login form as email with password, sends it and
// follows the redirects (to the daemon's loopback callback). It returns
// the text of the last page and its URL.
func (p *LoginPage) Submit(ctx context.Context, email, password string) (string, *url.URL, error) {
	return submitLogin(ctx, p.c, p.page, p.base, email, password, "login")
}

// ApproveDevice opens a device flow's verification URL, enters userCode,
// signs in and returns the text of the last page.
func ApproveDevice(ctx context.Context, hc *http.Client, verifyURL, userCode, email, password string) (string, error) {
	c := clientWithJar(hc)
	page, base, err := get(ctx, c, verifyURL)
	if err != nil {
		return page, err
	}
	f, err := parseForm(page, base)
	if err != nil {
		return page, err
	}
	f.values.Set("user_code", userCode)
	f.values.Set("action", "continue")
	page, base, err = post(ctx, c, f)
	if err != nil {
		return page, err
	}
	text, _, err := submitLogin(ctx, c, page, base, email, password, "login")
	return text, err
}

func submitLogin(ctx context.Context, c *http.Client, page string, base *url.URL, email, password, action string) (string, *url.URL, error) {
	if base == nil {
		return text(page), nil, errors.New("no login page to submit")
	}
	f, err := parseForm(page, base)
	if err != nil {
		return text(page), base, err
	}
	f.values.Set("email", email)
	f.values.Set("password", password)
	f.values.Set("action", action)
	page, last, err := post(ctx, c, f)
	return text(page), last, err
}

func clientWithJar(hc *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *hc
	c.Jar = jar
	c.CheckRedirect = nil // follow, to the loopback callback too
	return &c
}

func get(ctx context.Context, c *http.Client, u string) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	return do(c, req)
}

func post(ctx context.Context, c *http.Client, f *form) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.action, strings.NewReader(f.values.Encode()))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (string, *url.URL, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode/100 != 2 {
		return string(b), resp.Request.URL, fmt.Errorf("%s %s: %s: %s", req.Method, resp.Request.URL.Redacted(), resp.Status, text(string(b)))
	}
	return string(b), resp.Request.URL, nil
}

type form struct {
	action string
	values url.Values
}

var (
	formRE  = regexp.MustCompile(`(?is)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input([^>]*)>`)
	attrRE  = regexp.MustCompile(`(?is)\b(name|value)="([^"]*)"`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// parseForm reads the first form of page: its action and named inputs.
func parseForm(page string, base *url.URL) (*form, error) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("the page has no form: " + text(page))
	}
	action, err := base.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, err
	}
	f := &form{action: action.String(), values: url.Values{}}
	for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
		var name, value string
		for _, a := range attrRE.FindAllStringSubmatch(in[1], -1) {
			switch strings.ToLower(a[1]) {
			case "name":
				name = html.UnescapeString(a[2])
			case "value":
				value = html.UnescapeString(a[2])
			}
		}
		if name != "" {
			f.values.Set(name, value)
		}
	}
	return f, nil
}

// text is a page without its tags, for messages.
func text(page string) string {
	if i := strings.Index(page, "</style>"); i >= 0 {
		page = page[i:]
	}
	return strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(page, " "))), " ")
}
