package openaimodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/troupe-run/troupe/agent"
)

// ErrMalformedEvent is matched (errors.Is) by the error a stream ends with
// when the server sent an event the adapter cannot decode: data that is not
// JSON, or a known event whose payload has the wrong shape. The error is a
// *agent.ModelError of class agent.ErrServer (the server is at fault, and a
// retry may well get a clean stream) wrapping an *EventError.
var ErrMalformedEvent = errors.New("openaimodel: malformed stream event")

// EventError describes a stream event that could not be decoded.
type EventError struct {
	// Type is the event's type, as far as it is known.
	Type string
	// Data is the start of the event's data (at most 256 bytes).
	Data string
	// Err is the decoding error.
	Err error
}

func (e *EventError) Error() string {
	t := e.Type
	if t == "" {
		t = "event"
	}
	return fmt.Sprintf("%s: %s %q: %v", ErrMalformedEvent.Error(), t, e.Data, e.Err)
}

// Unwrap returns ErrMalformedEvent and the decoding error.
func (e *EventError) Unwrap() []error { return []error{ErrMalformedEvent, e.Err} }

func malformed(typ string, data []byte, err error) *agent.ModelError {
	const max = 256
	d := data
	if len(d) > max {
		d = d[:max]
	}
	return &agent.ModelError{Class: agent.ErrServer, Err: &EventError{Type: typ, Data: string(d), Err: err}}
}

// apiError is the error object of an OpenAI error body ({"error": {...}}),
// of a response.failed event (response.error) and of an "error" event.
type apiError struct {
	Code    string
	Type    string
	Message string
}

// decodeAPIError reads the error object out of an HTTP error body. It
// reuses go-openai's ErrorResponse, which copes with the variants servers
// send (code as a string or a number, message as a string or a list).
func decodeAPIError(body []byte) (apiError, bool) {
	var er openai.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Error == nil {
		return apiError{}, false
	}
	return fromOpenAIError(er.Error), true
}

func fromOpenAIError(e *openai.APIError) apiError {
	a := apiError{Type: e.Type, Message: e.Message}
	switch c := e.Code.(type) {
	case string:
		a.Code = c
	case float64:
		a.Code = strconv.FormatFloat(c, 'f', -1, 64)
	case nil:
	default:
		a.Code = fmt.Sprint(c)
	}
	return a
}

// classifyCode maps a provider error code (response.failed's
// response.error.code, an error body's error.code or error.type) to an
// error class. ok is false for codes with no specific class.
func classifyCode(code string) (class error, ok bool) {
	switch code {
	case "context_length_exceeded", "string_above_max_length":
		return agent.ErrContextWindowExceeded, true
	case "insufficient_quota", "usage_not_included", "billing_hard_limit_reached", "billing_not_active":
		return agent.ErrQuotaExceeded, true
	case "rate_limit_exceeded", "rate_limit_error", "tokens", "requests":
		return agent.ErrRateLimited, true
	case "server_error", "server_is_overloaded", "slow_down", "overloaded_error", "internal_error":
		return agent.ErrServer, true
	case "invalid_prompt", "bio_policy", "cyber_policy", "invalid_request_error", "invalid_api_key",
		"model_not_found", "content_filter", "unsupported_parameter", "invalid_value":
		return agent.ErrInvalidRequest, true
	}
	return nil, false
}

// failedError classifies the error of a response.failed or "error" event.
// An unknown code is retryable (class agent.ErrServer), with the delay the
// message names, as Codex does.
func failedError(e apiError) *agent.ModelError {
	class, ok := classifyCode(e.Code)
	if !ok {
		class, ok = classifyCode(e.Type)
	}
	if !ok {
		class = agent.ErrServer
	}
	me := &agent.ModelError{Class: class, Message: e.describe()}
	if class == agent.ErrRateLimited || class == agent.ErrServer {
		me.RetryAfter = agent.ParseRetryAfter(e.Message)
	}
	return me
}

func (e apiError) describe() string {
	switch {
	case e.Code != "" && e.Message != "":
		return e.Code + ": " + e.Message
	case e.Message != "":
		return e.Message
	case e.Code != "":
		return e.Code
	}
	return e.Type
}

// statusError classifies a non-2xx HTTP response from its status, headers
// and body.
//
//   - a body whose error code names a class wins for 400, 401, 403, 404,
//     422 and 429 (OpenAI answers 400 context_length_exceeded and 429
//     insufficient_quota);
//   - 400, 404, 409, 413, 422 and other 4xx: agent.ErrInvalidRequest;
//   - 401, 403: agent.ErrInvalidRequest (bad key, no access);
//   - 408: agent.ErrTimeout;
//   - 429: agent.ErrRateLimited with the delay from Retry-After (seconds
//     or an HTTP date), retry-after-ms, or "try again in Ns" in the message;
//   - 5xx and anything else: agent.ErrServer.
func statusError(status int, h http.Header, body []byte, now time.Time) *agent.ModelError {
	e, ok := decodeAPIError(body)
	raw := ""
	if !ok {
		raw = strings.TrimSpace(truncate(string(body), 512))
	}
	return classifyStatus(status, h, e, ok, raw, now)
}

// classifyStatus is statusError once the body is decoded: e is the error
// object when haveErr is set, raw the body text otherwise.
func classifyStatus(status int, h http.Header, e apiError, haveErr bool, raw string, now time.Time) *agent.ModelError {
	me := &agent.ModelError{StatusCode: status, Message: raw}
	if haveErr {
		me.Message = e.describe()
	}
	var class error
	ok := false
	if haveErr && status < 500 {
		class, ok = classifyCode(e.Code)
		if !ok {
			class, ok = classifyCode(e.Type)
		}
		// An invalid_request_error type says nothing more than the
		// status does; let 429 and 408 keep their own meaning.
		if ok && class == agent.ErrInvalidRequest && (status == http.StatusTooManyRequests || status == http.StatusRequestTimeout) {
			ok = false
		}
	}
	if !ok {
		switch {
		case status == http.StatusTooManyRequests:
			class = agent.ErrRateLimited
		case status == http.StatusRequestTimeout:
			class = agent.ErrTimeout
		case status >= 400 && status < 500:
			class = agent.ErrInvalidRequest
		default:
			class = agent.ErrServer
		}
	}
	me.Class = class
	if class == agent.ErrRateLimited || class == agent.ErrServer {
		me.RetryAfter = retryAfter(h, me.Message, now)
	}
	return me
}

// retryAfter reads the delay a server asks for: the retry-after-ms header,
// then Retry-After (delay-seconds or an HTTP date), then "try again in Ns"
// in the message.
func retryAfter(h http.Header, msg string, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	return agent.ParseRetryAfter(msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errTimedOut is the cancellation cause the adapters set when one of their
// own time limits (Config.RequestTimeout, Config.IdleTimeout) fires, so that
// the resulting error is classified as agent.ErrTimeout rather than as the
// caller's cancellation.
type errTimedOut struct{ what string }

func (e *errTimedOut) Error() string { return "openaimodel: " + e.what }

// transportError classifies a failure to send the request or to read the
// body. The caller's cancellation is returned as it is (not retryable); one
// of the adapter's own timeouts becomes agent.ErrTimeout; anything else (a
// reset connection, a refused dial) is a retryable stream failure.
func transportError(ctx, reqCtx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != ctx.Err() {
			return fmt.Errorf("openaimodel: %s: %w (%w)", op, ctx.Err(), cause)
		}
		return fmt.Errorf("openaimodel: %s: %w", op, ctx.Err())
	}
	var te *errTimedOut
	if cause := context.Cause(reqCtx); errors.As(cause, &te) {
		return &agent.ModelError{Class: agent.ErrTimeout, Message: te.what, Err: err}
	}
	return &agent.ModelError{Class: agent.ErrStreamClosed, Message: op, Err: err}
}
