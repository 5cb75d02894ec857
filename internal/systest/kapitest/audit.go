package kapitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// AuditEvent is one request in the audit log, reduced to what tests check.
type AuditEvent struct {
	Stage      string   // ResponseComplete, ResponseStarted (watches) or Panic
	Verb       string   // get, list, watch, create, …
	RequestURI string   // path and query
	User       string   // authenticated user name
	UserAgent  string   // e.g. kubectl/v1.27.16 (linux/amd64) …
	SourceIPs  []string // the connection's peer first, then X-Forwarded-For
	Code       int      // HTTP status; 0 when unknown
}

// AuditEvents returns the requests logged so far. It needs Options.Audit.
// Entries show up once a response is complete, which may be a moment after
// the client has read it: poll with a deadline.
func (s *Server) AuditEvents() ([]AuditEvent, error) {
	if s.auditFile == "" {
		return nil, errors.New("kapitest: audit log is off (set Options.Audit)")
	}
	f, err := os.Open(s.auditFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kapitest: %w", err)
	}
	defer f.Close()
	return parseAudit(f)
}

// AuditSourceIPs returns the distinct source IPs, in order of first
// appearance, of the requests made as [AdminUser], which is what kubectl with
// a kubeconfig from [Server.Kubeconfig] is. The apiserver's own loopback
// requests are left out. A test that puts a proxy on another loopback address
// in front of the server checks here that the traffic came through it.
func (s *Server) AuditSourceIPs() ([]string, error) {
	events, err := s.AuditEvents()
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, e := range events {
		if e.User != AdminUser || len(e.SourceIPs) == 0 {
			continue
		}
		if ip := e.SourceIPs[0]; !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

// maxAuditLine bounds one audit entry; longer lines are an error.
const maxAuditLine = 1 << 20

// parseAudit reads JSON-lines audit events. A last line without a newline
// is being written and is left for the next read.
func parseAudit(r io.Reader) ([]AuditEvent, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var events []AuditEvent
	for n := 1; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return nil, fmt.Errorf("kapitest: audit log line %d: %w", n, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var raw struct {
			Stage      string `json:"stage"`
			Verb       string `json:"verb"`
			RequestURI string `json:"requestURI"`
			User       struct {
				Username string `json:"username"`
			} `json:"user"`
			UserAgent      string   `json:"userAgent"`
			SourceIPs      []string `json:"sourceIPs"`
			ResponseStatus *struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(line, &raw); err != nil {
			return nil, fmt.Errorf("kapitest: audit log line %d: %w", n, err)
		}
		e := AuditEvent{
			Stage: raw.Stage, Verb: raw.Verb, RequestURI: raw.RequestURI, User: raw.User.Username,
			UserAgent: raw.UserAgent, SourceIPs: raw.SourceIPs,
		}
		if raw.ResponseStatus != nil {
			e.Code = raw.ResponseStatus.Code
		}
		events = append(events, e)
	}
}

// readLine returns one whole line without its newline, io.EOF at the end
// (also when the last line has no newline yet), or an error for a line over
// maxAuditLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxAuditLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxAuditLine)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}
