package openaimodel

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/rollout"
)

// chatAssembler turns chat completion chunks into stream events. Only
// choice 0 is read (the adapter never asks for more than one).
//
// Reasoning deltas (the reasoning_content member vLLM, DeepSeek and others
// send) open a reasoning item; content deltas close it and open an
// assistant message; tool-call pieces are collected by index and reported,
// with the message and reasoning items, as done items when the stream
// ends with a finish reason.
type chatAssembler struct {
	respID string
	reason string // the finish_reason
	usage  *openai.Usage

	reasoning     *rollout.ResponseItem
	reasoningText strings.Builder
	reasoningDone bool
	message       *rollout.ResponseItem
	messageText   strings.Builder

	calls []*chatCall // in order of first appearance
}

type chatCall struct {
	index int
	id    string
	name  string
	args  strings.Builder
}

func (a *chatAssembler) add(chunk openai.ChatCompletionStreamResponse) []agent.StreamEvent {
	if a.respID == "" {
		a.respID = chunk.ID
	}
	if chunk.Usage != nil {
		a.usage = chunk.Usage
	}
	var out []agent.StreamEvent
	for _, ch := range chunk.Choices {
		if ch.Index != 0 {
			continue
		}
		d := ch.Delta
		if d.ReasoningContent != "" && a.message == nil {
			if a.reasoning == nil {
				a.reasoning = &rollout.ResponseItem{Type: rollout.ItemReasoning, Summary: []rollout.ContentPart{}}
				out = append(out, agent.StreamEvent{Kind: agent.StreamItemAdded, Item: cloneItem(a.reasoning)})
			}
			a.reasoningText.WriteString(d.ReasoningContent)
			out = append(out, agent.StreamEvent{Kind: agent.StreamReasoningContentDelta, Delta: d.ReasoningContent})
		}
		text := d.Content
		if d.Refusal != "" {
			text += d.Refusal
		}
		if text != "" {
			if a.reasoning != nil && !a.reasoningDone {
				a.reasoningDone = true
				out = append(out, agent.StreamEvent{Kind: agent.StreamItemDone, Item: a.reasoningItem()})
			}
			if a.message == nil {
				a.message = &rollout.ResponseItem{Type: rollout.ItemMessage, Role: rollout.RoleAssistant, Content: []rollout.ContentPart{}}
				out = append(out, agent.StreamEvent{Kind: agent.StreamItemAdded, Item: cloneItem(a.message)})
			}
			a.messageText.WriteString(text)
			out = append(out, agent.StreamEvent{Kind: agent.StreamTextDelta, Delta: text})
		}
		for pos, tc := range d.ToolCalls {
			a.toolCall(pos, tc)
		}
		if ch.FinishReason != "" {
			a.reason = string(ch.FinishReason)
		}
	}
	return out
}

// toolCall merges one tool-call piece, the pos'th of its delta. Pieces
// are matched by index; a server that sends no index gets them matched by
// id; a piece with neither continues the latest call when it comes first
// in its delta and starts a new call otherwise.
func (a *chatAssembler) toolCall(pos int, tc openai.ToolCall) {
	var c *chatCall
	switch {
	case tc.Index != nil:
		for _, x := range a.calls {
			if x.index == *tc.Index {
				c = x
			}
		}
		if c == nil {
			c = &chatCall{index: *tc.Index}
			a.calls = append(a.calls, c)
		}
	case tc.ID != "":
		for _, x := range a.calls {
			if x.id == tc.ID {
				c = x
			}
		}
		if c == nil {
			c = &chatCall{index: len(a.calls)}
			a.calls = append(a.calls, c)
		}
	case pos == 0 && len(a.calls) > 0:
		c = a.calls[len(a.calls)-1]
	default:
		c = &chatCall{index: len(a.calls)}
		a.calls = append(a.calls, c)
	}
	if tc.ID != "" && c.id == "" {
		c.id = tc.ID
	}
	if tc.Function.Name != "" && c.name == "" {
		c.name = tc.Function.Name
	}
	c.args.WriteString(tc.Function.Arguments)
}

func (a *chatAssembler) reasoningItem() *rollout.ResponseItem {
	it := cloneItem(a.reasoning)
	it.Content = []rollout.ContentPart{{Type: rollout.PartReasoningText, Text: a.reasoningText.String()}}
	return it
}

// finish returns the closing events: done items then completed. A stream
// that ended without a finish reason was cut short; "length" and
// "content_filter" are failures.
func (a *chatAssembler) finish() ([]agent.StreamEvent, error) {
	switch a.reason {
	case "":
		return nil, &agent.ModelError{Class: agent.ErrStreamClosed, Message: "chat stream ended without a finish reason"}
	case "length":
		return nil, &agent.ModelError{Class: agent.ErrStreamClosed, Message: "incomplete response returned, reason: length"}
	case "content_filter":
		return nil, &agent.ModelError{Class: agent.ErrInvalidRequest, Message: "response stopped by the content filter"}
	}
	var out []agent.StreamEvent
	if a.reasoning != nil && !a.reasoningDone {
		out = append(out, agent.StreamEvent{Kind: agent.StreamItemDone, Item: a.reasoningItem()})
	}
	if a.message != nil {
		it := cloneItem(a.message)
		it.Content = []rollout.ContentPart{{Type: rollout.PartOutputText, Text: a.messageText.String()}}
		out = append(out, agent.StreamEvent{Kind: agent.StreamItemDone, Item: it})
	}
	calls := slices.Clone(a.calls)
	slices.SortStableFunc(calls, func(x, y *chatCall) int { return x.index - y.index })
	for _, c := range calls {
		id := c.id
		if id == "" {
			id = a.fallbackCallID(c.index)
		}
		args := c.args.String()
		if strings.TrimSpace(args) == "" {
			args = "{}"
		}
		out = append(out, agent.StreamEvent{Kind: agent.StreamItemDone, Item: rollout.NewFunctionCall(id, c.name, args)})
	}
	done := agent.StreamEvent{Kind: agent.StreamCompleted, ResponseID: a.respID}
	if u := a.usage; u != nil {
		done.Usage = &agent.TokenUsage{
			InputTokens:  int64(u.PromptTokens),
			OutputTokens: int64(u.CompletionTokens),
			TotalTokens:  int64(u.TotalTokens),
		}
		if u.PromptTokensDetails != nil {
			done.Usage.CachedInputTokens = int64(u.PromptTokensDetails.CachedTokens)
		}
		if u.CompletionTokensDetails != nil {
			done.Usage.ReasoningOutputTokens = int64(u.CompletionTokensDetails.ReasoningTokens)
		}
	}
	return append(out, done), nil
}

// fallbackCallID names a call the server gave no id: from the response id
// when there is one, else from random bytes (call ids must be unique in a
// thread, and a server that omits call ids may well omit response ids).
func (a *chatAssembler) fallbackCallID(index int) string {
	if a.respID != "" {
		return "call_" + a.respID + "_" + strconv.Itoa(index)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:]) + "_" + strconv.Itoa(index)
}

func cloneItem(it *rollout.ResponseItem) *rollout.ResponseItem {
	c := *it
	c.Content = slices.Clone(it.Content)
	c.Summary = slices.Clone(it.Summary)
	return &c
}
