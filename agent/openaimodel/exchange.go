package openaimodel

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/troupe-run/troupe/agent"
)

// exchange is one HTTP request and its streamed response. It derives the
// request's context from the caller's, so that the adapter's own time
// limits can cancel it with a cause of their own, and it closes the body
// and stops its timers in close. It implements go-openai's HTTPDoer, so the
// chat adapter gets the same headers, timeouts and status capture.
//
// An exchange is used by one goroutine (the one ranging over the stream),
// except for the timer callbacks, which only cancel the request context.
type exchange struct {
	s      *settings
	md     agent.RequestMetadata
	ctx    context.Context // the caller's
	reqCtx context.Context
	cancel context.CancelCauseFunc

	mu   sync.Mutex // guards resp and body for close, which may race a late Do in theory
	resp *http.Response
	body *idleBody
	// did is set once Do was called: an error before it is the client
	// library's own.
	did bool
}

func (s *settings) newExchange(ctx context.Context, md agent.RequestMetadata) *exchange {
	reqCtx, cancel := context.WithCancelCause(ctx)
	return &exchange{s: s, md: md, ctx: ctx, reqCtx: reqCtx, cancel: cancel}
}

// Do sends req on the exchange's context with the adapter's headers. The
// response headers must arrive within RequestTimeout; the body then may
// stay silent for at most IdleTimeout at a time.
func (x *exchange) Do(req *http.Request) (*http.Response, error) {
	x.mu.Lock()
	x.did = true
	x.mu.Unlock()
	req = req.WithContext(x.reqCtx)
	x.s.setHeaders(req.Header, x.md)
	var t *time.Timer
	if d := x.s.reqTimeout; d > 0 {
		t = time.AfterFunc(d, func() {
			x.cancel(&errTimedOut{what: "no response headers within " + d.String()})
		})
	}
	resp, err := x.s.client.Do(req)
	if t != nil {
		t.Stop()
	}
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.resp = resp
	if d := x.s.idleTimeout; d > 0 {
		b := &idleBody{rc: resp.Body, d: d}
		b.t = time.AfterFunc(d, func() {
			x.cancel(&errTimedOut{what: "stream idle for " + d.String()})
		})
		resp.Body = b
		x.body = b
	}
	return resp, nil
}

// status returns the status code and headers of the response, if one
// arrived.
func (x *exchange) status() (int, http.Header) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.resp == nil {
		return 0, nil
	}
	return x.resp.StatusCode, x.resp.Header
}

// sent reports whether a request was handed to Do.
func (x *exchange) sent() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.did
}

// close releases the exchange: it closes the response body (ending the
// connection if the body was not read to its end), stops the timers and
// cancels the request context. It is idempotent.
func (x *exchange) close() {
	x.mu.Lock()
	resp := x.resp
	x.mu.Unlock()
	if resp != nil {
		resp.Body.Close()
	}
	x.cancel(context.Canceled)
}

// fail classifies an error of sending the request or reading its body.
func (x *exchange) fail(op string, err error) error {
	return transportError(x.ctx, x.reqCtx, op, err)
}

// idleBody re-arms the idle timer on every read that returns data.
type idleBody struct {
	rc io.ReadCloser
	d  time.Duration
	t  *time.Timer
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.t.Reset(b.d)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.t.Stop()
	return b.rc.Close()
}
