package benchnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// tlsHandshake is the first byte of a TLS handshake record: a connection
// to the origin that starts with it gets HTTPS.
const tlsHandshake = 0x16

// httpsBody is what the origin's HTTPS server answers to every request.
const httpsBody = "ok\n"

// serveHTTPS runs the origin's HTTPS server (HTTP/1.1) on the connections
// pushed into the returned listener, until ctx ends.
func serveHTTPS(ctx context.Context, wg *sync.WaitGroup, addr net.Addr, tlsConf *tls.Config, log *slog.Logger) *connListener {
	ln := &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
	tlsConf = tlsConf.Clone()
	tlsConf.NextProtos = []string{"http/1.1"}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(httpsBody)))
			io.WriteString(w, httpsBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(tls.NewListener(ln, tlsConf)) // returns once Close runs
	}()
	context.AfterFunc(ctx, func() { srv.Close() })
	return ln
}

// connListener is a net.Listener fed with connections accepted elsewhere.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// push hands c to the server; false means the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// prefixConn replays bytes already read from its connection.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// HTTPSProbe times what an HTTPS client such as kubectl waits for on a new
// connection: the TCP connect (and SOCKS5 handshake, if any), a TLS 1.3
// handshake with the origin and one HTTP/1.1 GET, with net/http's own
// client. Unlike a one-byte echo it has the back-to-back small writes (TLS
// Finished, then the request) that Nagle's algorithm can hold for a delayed
// ACK.
type HTTPSProbe struct {
	tr  *http.Transport
	url string
}

// NewHTTPSProbe returns a probe that opens every connection with dial and
// trusts the origin's certificate in caFile.
func NewHTTPSProbe(dial func(ctx context.Context) (net.Conn, error), caFile string) (*HTTPSProbe, error) {
	tr, err := probeTransport(caFile)
	if err != nil {
		return nil, err
	}
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }
	return &HTTPSProbe{tr: tr, url: "https://" + ServerName + "/"}, nil
}

// NewSOCKS5HTTPSProbe returns a probe that reaches target through the
// SOCKS5 proxy at proxy with net/http's own SOCKS5 client, as kubectl does
// with `proxy-url: socks5://…`, and trusts the origin's certificate in
// caFile.
func NewSOCKS5HTTPSProbe(proxy, user, pass, target, caFile string) (*HTTPSProbe, error) {
	tr, err := probeTransport(caFile)
	if err != nil {
		return nil, err
	}
	u := &url.URL{Scheme: "socks5", Host: proxy}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	tr.Proxy = http.ProxyURL(u)
	return &HTTPSProbe{tr: tr, url: "https://" + target + "/"}, nil
}

func probeTransport(caFile string) (*http.Transport, error) {
	tlsConf, err := ClientTLS(caFile) // ServerName is set: the URL's host does not matter
	if err != nil {
		return nil, err
	}
	tlsConf.NextProtos = []string{"http/1.1"}
	return &http.Transport{TLSClientConfig: tlsConf}, nil
}

// Get sends one GET on a new connection, reads the whole answer and closes
// the connection.
func (p *HTTPSProbe) Get(ctx context.Context) error {
	defer p.tr.CloseIdleConnections() // the next Get needs a new connection
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	resp, err := p.tr.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("https get: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("https get: read the body: %w", err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != httpsBody {
		return fmt.Errorf("https get: status %d, body %q", resp.StatusCode, body)
	}
	return nil
}
