package openaimodel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
)

// checkGoroutines fails the test when goroutines started during it are
// still running at its end (after the cleanups registered later, such as
// closing the test server, have run). It polls briefly: goroutines that
// were told to stop may need a moment to return.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		var n int
		for range 200 {
			if n = runtime.NumGoroutine(); n <= base {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines after the test = %d, want <= %d\n%s", n, base, buf)
	})
}

// captured is what a test server received.
type captured struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// testServer is an httptest server that records every request and answers
// with handle.
type testServer struct {
	*httptest.Server
	client *http.Client

	mu   sync.Mutex
	reqs []captured
}

func newTestServer(t *testing.T, handle http.HandlerFunc) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts.mu.Lock()
		ts.reqs = append(ts.reqs, captured{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		ts.mu.Unlock()
		handle(w, r)
	}))
	tr := &http.Transport{}
	ts.client = &http.Client{Transport: tr}
	t.Cleanup(ts.Close)
	t.Cleanup(tr.CloseIdleConnections)
	return ts
}

func (ts *testServer) requests() []captured {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]captured(nil), ts.reqs...)
}

func (ts *testServer) last(t *testing.T) captured {
	t.Helper()
	r := ts.requests()
	if len(r) == 0 {
		t.Fatal("server received no request")
	}
	return r[len(r)-1]
}

// config returns a Config pointing at the server.
func (ts *testServer) config() Config {
	return Config{BaseURL: ts.URL + "/v1", APIKey: "sk-test", Model: "gpt-test", HTTPClient: ts.client}
}

// serveSSE answers with body as an event stream.
func serveSSE(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, body)
	}
}

// serveStatus answers with a status, headers and a body.
func serveStatus(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sseEvents builds an event stream from JSON event objects, as OpenAI
// sends them (an event line naming the type, then the data line).
func sseEvents(events ...string) string {
	var sb strings.Builder
	for _, e := range events {
		var v struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal([]byte(e), &v)
		if v.Type != "" {
			sb.WriteString("event: " + v.Type + "\n")
		}
		sb.WriteString("data: " + e + "\n\n")
	}
	return sb.String()
}

// collect ranges over a stream and returns its events and final error.
// It checks the Model contract: at most one error, and only as the last
// element.
func collect(t *testing.T, seq iter.Seq2[agent.StreamEvent, error]) ([]agent.StreamEvent, error) {
	t.Helper()
	var evs []agent.StreamEvent
	var final error
	for ev, err := range seq {
		if final != nil {
			t.Fatalf("stream yielded %+v after the error %v", ev, final)
		}
		if err != nil {
			final = err
			continue
		}
		evs = append(evs, ev)
	}
	return evs, final
}

func kinds(evs []agent.StreamEvent) []string {
	var ks []string
	for _, e := range evs {
		ks = append(ks, e.Kind.String())
	}
	return ks
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// modelError returns err as a *agent.ModelError or fails the test.
func modelError(t *testing.T, err error) *agent.ModelError {
	t.Helper()
	var me *agent.ModelError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *agent.ModelError", err, err)
	}
	return me
}

func request() *agent.Request {
	return &agent.Request{
		Instructions: "You are a test.",
		Metadata: agent.RequestMetadata{
			ThreadID:  "01a21136-7d39-7431-8f25-0511c98852d5",
			TurnID:    "01a21136-7d91-78f1-ae1c-a86346596790",
			WindowID:  "01a21136-7d39-7431-8f25-0511c98852d5:0",
			AgentPath: "/root",
		},
	}
}

var _ = context.Background

func readFixture(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}
