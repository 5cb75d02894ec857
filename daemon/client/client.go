// Package client is the typed client of the daemon's control API, used by
// the CLI and the tray. Calls take a context first; HTTP statuses become
// typed errors (*Error, or *NotRunningError when no daemon answers); the
// zero Client talks to the current user's default socket; Watch streams
// state changes so that nothing needs to poll.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/safesocket"
)

// Client talks to a daemon. The zero value is ready to use.
type Client struct {
	// Socket is the control socket's path; empty means the current user's
	// default (safesocket.Path).
	Socket string

	once sync.Once
	hc   *http.Client
	path string
}

func (c *Client) init() {
	c.once.Do(func() {
		c.path = c.Socket
		if c.path == "" {
			c.path = safesocket.Path(os.Getenv)
		}
		path := c.path
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return safesocket.Dial(ctx, path)
			},
			DisableCompression: true,
			MaxIdleConns:       2,
		}}
	})
}

// SocketPath returns the socket the client talks to.
func (c *Client) SocketPath() string {
	c.init()
	return c.path
}

// Error is an error the daemon returned.
type Error struct {
	Status  int    // HTTP status
	Code    string // apitype.Code*
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err says the cluster (or path) does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == apitype.CodeNotFound
}

// IsForbidden reports whether the daemon refused the caller.
func IsForbidden(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == apitype.CodeForbidden
}

// NotRunningError says no daemon answers on the socket.
type NotRunningError struct {
	Path string
	Err  error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("no airlock daemon is running (nothing answers on %s); start one with `airlock daemon`", e.Path)
}

func (e *NotRunningError) Unwrap() error { return e.Err }

// IsNotRunning reports whether err says no daemon answers.
func IsNotRunning(err error) bool {
	var e *NotRunningError
	return errors.As(err, &e)
}

// Status returns every cluster's and edge's state.
func (c *Client) Status(ctx context.Context) (*apitype.Status, error) {
	var st apitype.Status
	if err := c.call(ctx, http.MethodGet, apitype.PathStatus, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Connect brings cluster name's listener up and returns its state.
func (c *Client) Connect(ctx context.Context, name string) (*apitype.Cluster, error) {
	var cl apitype.Cluster
	if err := c.call(ctx, http.MethodPost, apitype.ConnectPath(url.PathEscape(name)), &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

// Disconnect closes cluster name's listener and returns its state.
func (c *Client) Disconnect(ctx context.Context, name string) (*apitype.Cluster, error) {
	var cl apitype.Cluster
	if err := c.call(ctx, http.MethodPost, apitype.DisconnectPath(url.PathEscape(name)), &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	return c.doBody(ctx, method, path, nil)
}

// doBody is do with a JSON request body (nil for none).
func (c *Client) doBody(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	c.init()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+apitype.Host+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &NotRunningError{Path: c.path, Err: err}
		}
		return nil, fmt.Errorf("airlock daemon at %s: %w", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func (c *Client) call(ctx context.Context, method, path string, out any) error {
	return c.callBody(ctx, method, path, nil, out)
}

// callBody sends body (JSON, nil for none) and decodes the answer into out.
func (c *Client) callBody(ctx context.Context, method, path string, body []byte, out any) error {
	resp, err := c.doBody(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode the daemon's answer to %s: %w", path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	var body apitype.ErrorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &body) != nil || body.Error.Code == "" {
		return &Error{Status: resp.StatusCode, Code: apitype.CodeInternal, Message: fmt.Sprintf("daemon answered %s", resp.Status)}
	}
	return &Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
}

// Watcher reads the daemon's event stream.
type Watcher struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Watch opens the event stream: a full EventStatus first, then one event
// per change, until ctx ends or Close.
func (c *Client) Watch(ctx context.Context) (*Watcher, error) {
	resp, err := c.do(ctx, http.MethodGet, apitype.PathEvents)
	if err != nil {
		return nil, err
	}
	return &Watcher{body: resp.Body, dec: json.NewDecoder(bufio.NewReader(resp.Body))}, nil
}

// Next returns the next event; io.EOF once the daemon ended the stream.
func (w *Watcher) Next() (apitype.Event, error) {
	var ev apitype.Event
	if err := w.dec.Decode(&ev); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return apitype.Event{}, err
	}
	return ev, nil
}

// Close ends the stream.
func (w *Watcher) Close() error { return w.body.Close() }
