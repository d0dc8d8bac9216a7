package openaimodel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"slices"
	"strings"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// Responses is an agent.Model on the OpenAI Responses API (POST
// {BaseURL}/responses, streamed as server-sent events). It is safe for
// concurrent use; it holds no per-request state.
type Responses struct {
	s   *settings
	url string
}

var _ agent.Model = (*Responses)(nil)

// NewResponses validates cfg and returns a Responses adapter. It starts
// nothing and sends nothing.
func NewResponses(cfg Config) (*Responses, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return &Responses{s: s, url: s.base + "/responses"}, nil
}

// includeEncryptedReasoning asks the server to return reasoning items with
// their encrypted content, which store:false requires for the model to see
// its earlier reasoning on the next request.
const includeEncryptedReasoning = "reasoning.encrypted_content"

// responsesRequest is the request body, in the member order Codex sends.
type responsesRequest struct {
	Model             string                 `json:"model"`
	Instructions      string                 `json:"instructions,omitempty"`
	Input             []rollout.ResponseItem `json:"input"`
	Tools             []functionTool         `json:"tools"`
	ToolChoice        string                 `json:"tool_choice"`
	ParallelToolCalls bool                   `json:"parallel_tool_calls"`
	Reasoning         *reasoningParams       `json:"reasoning,omitempty"`
	Store             bool                   `json:"store"`
	Stream            bool                   `json:"stream"`
	Include           []string               `json:"include"`
	PromptCacheKey    string                 `json:"prompt_cache_key,omitempty"`
	Text              *textParams            `json:"text,omitempty"`
	ClientMetadata    map[string]string      `json:"client_metadata,omitempty"`
}

type reasoningParams struct {
	Effort  string `json:"effort,omitempty"`
	Summary string `json:"summary,omitempty"`
}

type textParams struct {
	Verbosity string `json:"verbosity,omitempty"`
}

// functionTool is a Responses API function tool.
type functionTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Strict      bool            `json:"strict"`
	Parameters  json.RawMessage `json:"parameters"`
}

// emptyParameters is the schema sent for a tool without one: the API
// requires an object schema.
var emptyParameters = json.RawMessage(`{"type":"object","properties":{}}`)

func toolParameters(spec capability.Spec) json.RawMessage {
	if len(bytes.TrimSpace(spec.Parameters)) == 0 {
		return emptyParameters
	}
	return spec.Parameters
}

// requestBody encodes the request for req.
func (r *Responses) requestBody(req *agent.Request) ([]byte, error) {
	body := responsesRequest{
		Model:             r.s.model,
		Instructions:      req.Instructions,
		Input:             inputItems(req.Input, r.s.passthrough, r.s.dropIDs),
		Tools:             make([]functionTool, 0, len(req.Tools)),
		ToolChoice:        "auto",
		ParallelToolCalls: req.ParallelToolCalls,
		Store:             false,
		Stream:            true,
		Include:           []string{includeEncryptedReasoning},
		PromptCacheKey:    string(req.Metadata.ThreadID),
	}
	for _, t := range req.Tools {
		body.Tools = append(body.Tools, functionTool{
			Type: "function", Name: t.Name, Description: t.Description, Parameters: toolParameters(t),
		})
	}
	if r.s.effort != "" || r.s.summary != "" {
		body.Reasoning = &reasoningParams{Effort: r.s.effort, Summary: r.s.summary}
	}
	if r.s.verbosity != "" {
		body.Text = &textParams{Verbosity: r.s.verbosity}
	}
	md := req.Metadata
	cm := map[string]string{}
	for k, v := range map[string]string{
		"session_id":        string(md.ThreadID),
		"thread_id":         string(md.ThreadID),
		"turn_id":           md.TurnID,
		"x-codex-window-id": md.WindowID,
		"agent_name":        md.AgentPath,
	} {
		if v != "" {
			cm[k] = v
		}
	}
	if len(cm) > 0 {
		body.ClientMetadata = cm
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// passthroughMember is the JSON name of rollout.ResponseItem.Passthrough.
const passthroughMember = "internal_chat_message_metadata_passthrough"

// inputItems returns the items to send. With keep set and drop unset they
// are the caller's items as they are; otherwise shallow copies without the
// passthrough metadata (keep unset) or the item ids (drop set). The
// caller's items are never modified.
func inputItems(items []rollout.ResponseItem, keep, drop bool) []rollout.ResponseItem {
	if items == nil {
		return []rollout.ResponseItem{}
	}
	if keep && !drop {
		return items
	}
	out := make([]rollout.ResponseItem, len(items))
	for i, it := range items {
		if !keep {
			it.Passthrough = nil
			it.Extra = without(it.Extra, passthroughMember)
		}
		if drop {
			it.ID = ""
			it.Extra = without(it.Extra, "id")
		}
		out[i] = it
	}
	return out
}

// without returns ms without key, cloning when it has to remove it
// (Members.Delete works in place, and ms is the caller's).
func without(ms rollout.Members, key string) rollout.Members {
	if _, ok := ms.Get(key); !ok {
		return ms
	}
	ms = slices.Clone(ms)
	ms.Delete(key)
	return ms
}

// Stream implements agent.Model. The request is sent when the sequence is
// first ranged over; breaking out of the loop, or cancelling ctx, closes
// the connection. The sequence ends after response.completed, or with one
// classified error (see the package documentation).
func (r *Responses) Stream(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
	return func(yield func(agent.StreamEvent, error) bool) {
		body, err := r.requestBody(req)
		if err != nil {
			yield(agent.StreamEvent{}, &agent.ModelError{Class: agent.ErrInvalidRequest, Message: "encoding the request", Err: err})
			return
		}
		x := r.s.newExchange(ctx, req.Metadata)
		defer x.close()
		if err := r.run(x, body, yield); err != nil {
			yield(agent.StreamEvent{}, err)
		}
	}
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// run sends the request and yields its events. It returns the error to end
// the stream with, or nil when the stream completed or the consumer
// stopped.
func (r *Responses) run(x *exchange, body []byte, yield func(agent.StreamEvent, error) bool) error {
	hreq, err := http.NewRequestWithContext(x.ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return &agent.ModelError{Class: agent.ErrInvalidRequest, Message: "building the request", Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := x.Do(hreq)
	if err != nil {
		return x.fail("sending the request", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil && x.ctx.Err() != nil {
			return x.fail("reading the error response", err)
		}
		me := statusError(resp.StatusCode, resp.Header, b, r.s.now())
		if _, isAPIError := decodeAPIError(b); !isAPIError && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
			// A bare 404 is a missing endpoint; an OpenAI error object
			// (a model or an item not found) says more by itself.
			me.Message += " (does the server offer the Responses API at " + r.url + "? NewChat speaks Chat Completions)"
		}
		return me
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		return notStreamed(x, resp.Body)
	}
	dec := newSSEReader(resp.Body, r.s.maxEvent)
	n := 0
	for {
		ev, err := dec.Next()
		switch {
		case err == io.EOF:
			return &agent.ModelError{Class: agent.ErrStreamClosed, Message: fmt.Sprintf("stream ended after %d events without response.completed", n)}
		case errors.Is(err, errEventTooLarge):
			return malformed("", nil, err)
		case err != nil:
			return x.fail("reading the event stream", err)
		}
		n++
		out, done, err := r.decodeEvent(ev)
		if err != nil {
			if errors.Is(err, ErrMalformedEvent) {
				r.s.log.Warn("openaimodel: malformed event", "error", err)
			}
			return err
		}
		if out.Kind != 0 && !yield(out, nil) {
			return nil
		}
		if done {
			return nil
		}
	}
}

// notStreamed handles a 2xx answer that is a JSON document rather than an
// event stream: an error object some gateways send with status 200, or a
// whole response from a server that ignored stream:true.
func notStreamed(x *exchange, body io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil {
		return x.fail("reading the response", err)
	}
	if e, ok := decodeAPIError(b); ok {
		return failedError(e)
	}
	return &agent.ModelError{Class: agent.ErrInvalidRequest, Message: "the server answered with a JSON document, not an event stream (does it support stream:true?)"}
}

// wireEvent is the part of a Responses stream event the adapter reads.
type wireEvent struct {
	Type         string          `json:"type"`
	Item         json.RawMessage `json:"item"`
	ItemID       string          `json:"item_id"`
	Delta        string          `json:"delta"`
	SummaryIndex int             `json:"summary_index"`
	ContentIndex int             `json:"content_index"`
	Response     *wireResponse   `json:"response"`
	// Code and Message are set on "error" events.
	Code    looseString `json:"code"`
	Message string      `json:"message"`
}

type wireResponse struct {
	ID                string     `json:"id"`
	Usage             *wireUsage `json:"usage"`
	EndTurn           *bool      `json:"end_turn"`
	Error             *wireError `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
}

type wireError struct {
	Code    looseString `json:"code"`
	Type    string      `json:"type"`
	Message string      `json:"message"`
}

type wireUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

func (u *wireUsage) tokenUsage() *agent.TokenUsage {
	if u == nil {
		return nil
	}
	t := &agent.TokenUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
	if u.InputTokensDetails != nil {
		t.CachedInputTokens = u.InputTokensDetails.CachedTokens
	}
	if u.OutputTokensDetails != nil {
		t.ReasoningOutputTokens = u.OutputTokensDetails.ReasoningTokens
	}
	return t
}

// looseString decodes a JSON string, number or null into a string: error
// codes arrive in all three forms.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = looseString(v)
	case string(b) == "null":
		*s = ""
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a string or a number, got %.32s", b)
		}
		*s = looseString(n)
	}
	return nil
}

// decodeEvent maps one SSE event to at most one stream event. done is set
// when the response completed. A non-nil error ends the stream.
func (r *Responses) decodeEvent(ev sseEvent) (out agent.StreamEvent, done bool, err error) {
	data := bytes.TrimSpace(ev.Data)
	if string(data) == "[DONE]" {
		// Not part of the Responses protocol, but some proxies add it.
		// The stream must still have completed.
		return out, false, nil
	}
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return out, false, malformed(ev.Name, data, err)
	}
	typ := w.Type
	if typ == "" {
		typ = ev.Name
	}
	switch typ {
	case "response.output_item.added", "response.output_item.done":
		item, err := decodeItem(w.Item)
		if err != nil {
			return out, false, malformed(typ, data, err)
		}
		out.Kind = agent.StreamItemAdded
		if typ == "response.output_item.done" {
			out.Kind = agent.StreamItemDone
		}
		out.Item = item
	case "response.output_text.delta":
		out = agent.StreamEvent{Kind: agent.StreamTextDelta, ItemID: w.ItemID, Delta: w.Delta}
	case "response.reasoning_summary_text.delta":
		out = agent.StreamEvent{Kind: agent.StreamReasoningSummaryDelta, ItemID: w.ItemID, Delta: w.Delta, Index: w.SummaryIndex}
	case "response.reasoning_text.delta":
		out = agent.StreamEvent{Kind: agent.StreamReasoningContentDelta, ItemID: w.ItemID, Delta: w.Delta, Index: w.ContentIndex}
	case "response.completed":
		if w.Response == nil {
			return out, false, malformed(typ, data, errors.New("no response object"))
		}
		out = agent.StreamEvent{
			Kind:       agent.StreamCompleted,
			ResponseID: w.Response.ID,
			Usage:      w.Response.Usage.tokenUsage(),
			EndTurn:    w.Response.EndTurn,
		}
		return out, true, nil
	case "response.failed":
		if w.Response == nil || w.Response.Error == nil {
			return out, false, &agent.ModelError{Class: agent.ErrServer, Message: "response.failed without an error"}
		}
		e := w.Response.Error
		return out, false, failedError(apiError{Code: string(e.Code), Type: e.Type, Message: e.Message})
	case "response.incomplete":
		reason := "unknown"
		if w.Response != nil && w.Response.IncompleteDetails != nil && w.Response.IncompleteDetails.Reason != "" {
			reason = w.Response.IncompleteDetails.Reason
		}
		return out, false, &agent.ModelError{Class: agent.ErrStreamClosed, Message: "incomplete response returned, reason: " + reason}
	case "error":
		return out, false, failedError(apiError{Code: string(w.Code), Message: w.Message})
	default:
		if !quietEvent(typ) {
			r.s.log.Debug("openaimodel: ignoring stream event", "type", typ)
		}
	}
	return out, false, nil
}

// quietEvent reports whether typ is an event the adapter knowingly skips:
// response.created, in_progress, content_part.*, output_text.done,
// function_call_arguments.*, reasoning_summary_part.*, ... carry nothing
// the agent needs, as the done item holds the whole content.
func quietEvent(typ string) bool {
	switch typ {
	case "response.created", "response.in_progress", "response.queued",
		"response.content_part.added", "response.content_part.done", "response.output_text.done",
		"response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
		"response.reasoning_summary_part.added", "response.reasoning_summary_part.done",
		"response.reasoning_summary_text.done", "response.reasoning_text.done", "response.metadata":
		return true
	}
	return false
}

// decodeItem decodes an output item, keeping members the item model does
// not know.
func decodeItem(raw json.RawMessage) (*rollout.ResponseItem, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("no item")
	}
	var it rollout.ResponseItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, err
	}
	if it.Type == "" {
		return nil, errors.New("item has no type")
	}
	return &it, nil
}
