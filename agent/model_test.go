package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantRetry bool
		wantDelay time.Duration
	}{
		{"nil", nil, false, 0},
		{"canceled", fmt.Errorf("stream: %w", context.Canceled), false, 0},
		{"context window", &ModelError{Class: ErrContextWindowExceeded}, false, 0},
		{"quota", &ModelError{Class: ErrQuotaExceeded, StatusCode: 429}, false, 0},
		{"invalid", &ModelError{Class: ErrInvalidRequest, StatusCode: 400}, false, 0},
		{"closed", &ModelError{Class: ErrStreamClosed}, true, 0},
		{"timeout", &ModelError{Class: ErrTimeout, Err: context.DeadlineExceeded}, true, 0},
		{"5xx", &ModelError{Class: ErrServer, StatusCode: 502}, true, 0},
		{"429", &ModelError{Class: ErrRateLimited, StatusCode: 429, RetryAfter: 11054 * time.Millisecond}, true, 11054 * time.Millisecond},
		{"wrapped 429", fmt.Errorf("attempt 2: %w", &ModelError{Class: ErrRateLimited, RetryAfter: time.Second}), true, time.Second},
		{"transport", io.ErrUnexpectedEOF, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, delay := Retryable(tt.err)
			if retry != tt.wantRetry || delay != tt.wantDelay {
				t.Errorf("Retryable(%v) = %v, %v; want %v, %v", tt.err, retry, delay, tt.wantRetry, tt.wantDelay)
			}
		})
	}
}

func TestModelErrorIs(t *testing.T) {
	inner := errors.New("connection reset")
	err := fmt.Errorf("step: %w", &ModelError{Class: ErrServer, StatusCode: 503, Message: "overloaded", Err: inner})
	if !errors.Is(err, ErrServer) || !errors.Is(err, inner) || errors.Is(err, ErrTimeout) {
		t.Errorf("errors.Is on %v: class/inner/other = %v/%v/%v, want true/true/false", err, errors.Is(err, ErrServer), errors.Is(err, inner), errors.Is(err, ErrTimeout))
	}
	const want = "step: agent: model server error (status 503): overloaded: connection reset"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		msg  string
		want time.Duration
	}{
		{"Rate limit reached for gpt-5 in organization org-x on tokens per min. Please try again in 11.054s. Visit ...", 11054 * time.Millisecond},
		{"Please try again in 35ms.", 35 * time.Millisecond},
		{"try again in 2 seconds", 2 * time.Second},
		{"slow down", 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.msg); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

func TestWindowID(t *testing.T) {
	if got := WindowID("01a21136-be7b-7fa3-a673-da84f2d2894e", 2); got != "01a21136-be7b-7fa3-a673-da84f2d2894e:2" {
		t.Errorf("WindowID = %q", got)
	}
}
