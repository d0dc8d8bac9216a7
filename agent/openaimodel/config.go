package openaimodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/troupe-run/troupe/agent"
)

// DefaultBaseURL is the base URL used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultIdleTimeout is the longest silence (no bytes of the event stream)
// tolerated when Config.IdleTimeout is zero; Codex's default
// stream_idle_timeout_ms is the same five minutes.
const DefaultIdleTimeout = 5 * time.Minute

// ErrInvalidConfig is matched (errors.Is) by the errors NewResponses and
// NewChat return for a Config they cannot use.
var ErrInvalidConfig = errors.New("openaimodel: invalid config")

// PassthroughPolicy says whether input items keep Codex's
// internal_chat_message_metadata_passthrough member (the turn id and other
// metadata Codex records with each item) when they are sent.
type PassthroughPolicy uint8

const (
	// PassthroughAuto keeps the metadata for OpenAI's own endpoint (a base
	// URL whose host is api.openai.com) and strips it for every other
	// provider, as Codex does. It is the zero value.
	PassthroughAuto PassthroughPolicy = iota
	// PassthroughKeep always sends the metadata.
	PassthroughKeep
	// PassthroughStrip never sends it.
	PassthroughStrip
)

// Config configures an adapter. The same Config serves both NewResponses
// and NewChat; fields that only one of them uses say so.
type Config struct {
	// BaseURL is the API root the endpoint paths ("/responses",
	// "/chat/completions") are appended to. Zero: DefaultBaseURL. Servers
	// with an OpenAI-compatible API usually want ".../v1"
	// (http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for
	// vLLM, http://localhost:1234/v1 for LM Studio).
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". Zero: no
	// Authorization header (local servers).
	APIKey string
	// Model is the model name sent with every request. Required.
	Model string
	// HTTPClient sends the requests. Zero: a new http.Client with no
	// Timeout over http.DefaultTransport. A client's own Timeout bounds
	// the whole stream, so prefer RequestTimeout and IdleTimeout.
	HTTPClient *http.Client
	// Organization and Project are sent as the OpenAI-Organization and
	// OpenAI-Project headers when not empty.
	Organization string
	Project      string
	// Header holds extra headers sent with every request (copied by the
	// constructor). They are set after the adapter's own headers, so they
	// can override them.
	Header http.Header
	// RequestTimeout bounds the time from sending a request until the
	// response headers arrive. Zero: no bound beyond the caller's context.
	// When it fires the stream ends with agent.ErrTimeout (retryable).
	RequestTimeout time.Duration
	// IdleTimeout bounds the silence between two reads of the event
	// stream. Zero: DefaultIdleTimeout; negative: no bound. When it fires
	// the stream ends with agent.ErrTimeout (retryable).
	IdleTimeout time.Duration
	// Passthrough says whether input items keep their passthrough
	// metadata. Zero: PassthroughAuto.
	Passthrough PassthroughPolicy
	// DropItemIDs clears the id of every input item sent to the Responses
	// API. Zero: ids are sent, as Codex 0.169 sends them. Set it for an
	// endpoint that answers 404 "Item with id ... not found. Items are not
	// persisted when store is set to false" (a reasoning item it cannot
	// resolve by id). Responses only; chat messages carry no item ids.
	DropItemIDs bool
	// ReasoningEffort is sent as reasoning.effort (Responses) or
	// reasoning_effort (Chat) when not empty: "minimal", "low", "medium",
	// "high", ...
	ReasoningEffort string
	// ReasoningSummary is sent as reasoning.summary when not empty
	// ("auto", "concise", "detailed"). Responses only.
	ReasoningSummary string
	// Verbosity is sent as text.verbosity (Responses) or verbosity (Chat)
	// when not empty: "low", "medium", "high" (GPT-5 models).
	Verbosity string
	// DisableStreamUsage leaves out stream_options.include_usage, for
	// servers that reject it; responses then complete without usage. Chat
	// only.
	DisableStreamUsage bool
	// ChatLateSystemAsUser renders developer and system messages that come
	// after the conversation started (after the first user, assistant or
	// tool message) as user messages beginning "[developer]\n", for chat
	// templates that accept a system message only first (Mistral, Gemma).
	// Zero: they stay system messages. Chat only.
	ChatLateSystemAsUser bool
	// MaxEventBytes bounds one server-sent event. Zero:
	// DefaultMaxEventBytes. Responses only (go-openai reads the chat
	// stream).
	MaxEventBytes int
	// Logger receives debug records (dropped items, ignored events) and
	// warnings (malformed events). Zero: records are discarded.
	Logger *slog.Logger
	// Now is the clock used to turn a Retry-After HTTP date into a delay.
	// Zero: time.Now.
	Now func() time.Time
}

// settings is a validated Config with defaults filled in.
type settings struct {
	base        string
	apiKey      string
	model       string
	client      *http.Client
	header      http.Header
	reqTimeout  time.Duration
	idleTimeout time.Duration
	passthrough bool
	dropIDs     bool
	effort      string
	summary     string
	verbosity   string
	noUsage     bool
	lateSystem  bool
	maxEvent    int
	log         *slog.Logger
	now         func() time.Time
}

func (cfg Config) settings() (*settings, error) {
	s := &settings{
		base:        strings.TrimRight(cfg.BaseURL, "/"),
		apiKey:      cfg.APIKey,
		model:       cfg.Model,
		client:      cfg.HTTPClient,
		header:      make(http.Header),
		reqTimeout:  cfg.RequestTimeout,
		idleTimeout: cfg.IdleTimeout,
		dropIDs:     cfg.DropItemIDs,
		effort:      cfg.ReasoningEffort,
		summary:     cfg.ReasoningSummary,
		verbosity:   cfg.Verbosity,
		noUsage:     cfg.DisableStreamUsage,
		lateSystem:  cfg.ChatLateSystemAsUser,
		maxEvent:    cfg.MaxEventBytes,
		log:         cfg.Logger,
		now:         cfg.Now,
	}
	if s.base == "" {
		s.base = DefaultBaseURL
	}
	u, err := url.Parse(s.base)
	if err != nil {
		return nil, fmt.Errorf("%w: BaseURL: %w", ErrInvalidConfig, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: BaseURL %q: want an http or https URL with a host", ErrInvalidConfig, cfg.BaseURL)
	}
	if s.model == "" {
		return nil, fmt.Errorf("%w: Model is empty", ErrInvalidConfig)
	}
	if s.reqTimeout < 0 {
		return nil, fmt.Errorf("%w: RequestTimeout %v is negative", ErrInvalidConfig, s.reqTimeout)
	}
	if s.maxEvent < 0 {
		return nil, fmt.Errorf("%w: MaxEventBytes %d is negative", ErrInvalidConfig, s.maxEvent)
	}
	switch cfg.Passthrough {
	case PassthroughAuto:
		s.passthrough = strings.EqualFold(u.Hostname(), "api.openai.com")
	case PassthroughKeep:
		s.passthrough = true
	case PassthroughStrip:
	default:
		return nil, fmt.Errorf("%w: unknown Passthrough policy %d", ErrInvalidConfig, cfg.Passthrough)
	}
	switch {
	case s.idleTimeout == 0:
		s.idleTimeout = DefaultIdleTimeout
	case s.idleTimeout < 0:
		s.idleTimeout = 0
	}
	if s.maxEvent == 0 {
		s.maxEvent = DefaultMaxEventBytes
	}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.Organization != "" {
		s.header.Set("OpenAI-Organization", cfg.Organization)
	}
	if cfg.Project != "" {
		s.header.Set("OpenAI-Project", cfg.Project)
	}
	for k, vs := range cfg.Header {
		s.header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	return s, nil
}

// turnMetadata is the x-codex-turn-metadata header and the client_metadata
// body member: who is asking, in Codex's field names.
type turnMetadata struct {
	SessionID string `json:"session_id,omitempty"`
	ThreadID  string `json:"thread_id,omitempty"`
	AgentName string `json:"agent_name,omitempty"`
	TurnID    string `json:"turn_id,omitempty"`
	WindowID  string `json:"window_id,omitempty"`
}

// setHeaders sets the headers of one request: authorization, the
// request's identity in Codex's header names, then Config.Header.
//
//	Authorization: Bearer <APIKey>            (when APIKey is set)
//	session-id, thread-id, x-client-request-id: <thread id>
//	x-codex-window-id: <window id>            ("{thread_id}:{window_number}")
//	x-codex-turn-metadata: {"session_id","thread_id","agent_name","turn_id","window_id"}
func (s *settings) setHeaders(h http.Header, md agent.RequestMetadata) {
	if s.apiKey != "" {
		h.Set("Authorization", "Bearer "+s.apiKey)
	}
	if md.ThreadID != "" {
		h.Set("session-id", string(md.ThreadID))
		h.Set("thread-id", string(md.ThreadID))
		h.Set("x-client-request-id", string(md.ThreadID))
	}
	if md.WindowID != "" {
		h.Set("x-codex-window-id", md.WindowID)
	}
	if tm := newTurnMetadata(md); tm != (turnMetadata{}) {
		b, err := json.Marshal(tm)
		if err == nil {
			h.Set("x-codex-turn-metadata", string(b))
		}
	}
	for k, vs := range s.header {
		h[k] = append([]string(nil), vs...)
	}
}

func newTurnMetadata(md agent.RequestMetadata) turnMetadata {
	return turnMetadata{
		SessionID: string(md.ThreadID),
		ThreadID:  string(md.ThreadID),
		AgentName: md.AgentPath,
		TurnID:    md.TurnID,
		WindowID:  md.WindowID,
	}
}
