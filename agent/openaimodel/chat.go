package openaimodel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"log/slog"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/rollout"
)

// Chat is an agent.Model on the Chat Completions API (POST
// {BaseURL}/chat/completions with stream:true), for servers that do not
// offer the Responses API (vLLM, Ollama, LM Studio, llama.cpp, ...). It
// uses go-openai's streaming chat client. History is mapped to chat
// messages lossily; see the package documentation for the table. It is safe
// for concurrent use; it holds no per-request state.
type Chat struct {
	s *settings
}

var _ agent.Model = (*Chat)(nil)

// NewChat validates cfg and returns a Chat adapter. It starts nothing and
// sends nothing.
func NewChat(cfg Config) (*Chat, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return &Chat{s: s}, nil
}

// Stream implements agent.Model; see Responses.Stream for the life of the
// sequence. Text and reasoning stream as deltas of a message and a
// reasoning item; tool calls, whose arguments arrive in pieces, are
// assembled and reported as done items when the response finishes.
func (c *Chat) Stream(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
	return func(yield func(agent.StreamEvent, error) bool) {
		creq := c.request(req)
		x := c.s.newExchange(ctx, req.Metadata)
		defer x.close()
		if err := c.run(x, creq, yield); err != nil {
			yield(agent.StreamEvent{}, err)
		}
	}
}

// request builds the chat request for req.
func (c *Chat) request(req *agent.Request) openai.ChatCompletionRequest {
	creq := openai.ChatCompletionRequest{
		Model:           c.s.model,
		Messages:        chatMessages(req.Instructions, req.Input, c.s.lateSystem, c.s.log),
		ReasoningEffort: c.s.effort,
		Verbosity:       c.s.verbosity,
	}
	if len(req.Tools) > 0 {
		creq.ToolChoice = "auto"
		creq.ParallelToolCalls = req.ParallelToolCalls
		for _, t := range req.Tools {
			creq.Tools = append(creq.Tools, openai.Tool{
				Type: openai.ToolTypeFunction,
				Function: &openai.FunctionDefinition{
					Name:        t.Name,
					Description: t.Description,
					Parameters:  toolParameters(t),
				},
			})
		}
	}
	if !c.s.noUsage {
		creq.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	return creq
}

func (c *Chat) run(x *exchange, creq openai.ChatCompletionRequest, yield func(agent.StreamEvent, error) bool) error {
	cfg := openai.DefaultConfig("") // the exchange sets Authorization
	cfg.BaseURL = c.s.base
	cfg.HTTPClient = x
	// go-openai counts every non-data line (keep-alive comments, event
	// names) towards this limit between two chunks; a reasoning model
	// that thinks for minutes behind keep-alives must not trip it.
	cfg.EmptyMessagesLimit = 1 << 16
	client := openai.NewClientWithConfig(cfg)
	stream, err := client.CreateChatCompletionStream(x.ctx, creq)
	if err != nil {
		return c.classify(x, "sending the request", err)
	}
	defer stream.Close()
	var asm chatAssembler
	for {
		raw, err := stream.RecvRaw()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c.classify(x, "reading the event stream", err)
		}
		chunk, err := decodeChunk(raw)
		if err != nil {
			c.s.log.Warn("openaimodel: malformed chat chunk", "error", err)
			return err
		}
		for _, ev := range asm.add(chunk) {
			if !yield(ev, nil) {
				return nil
			}
		}
	}
	events, err := asm.finish()
	if err != nil {
		return err
	}
	for _, ev := range events {
		if !yield(ev, nil) {
			return nil
		}
	}
	return nil
}

// decodeChunk decodes one chat completion chunk with go-openai's type,
// then takes the reasoning text from "reasoning" when the server sends it
// there rather than in "reasoning_content" (Ollama, OpenRouter and newer
// vLLM do), which go-openai does not read.
func decodeChunk(raw []byte) (openai.ChatCompletionStreamResponse, error) {
	var chunk openai.ChatCompletionStreamResponse
	if err := json.Unmarshal(raw, &chunk); err != nil {
		return chunk, malformed("chat.completion.chunk", raw, err)
	}
	var alt struct {
		Choices []struct {
			Delta struct {
				Reasoning json.RawMessage `json:"reasoning"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(raw, &alt) != nil || len(alt.Choices) != len(chunk.Choices) {
		return chunk, nil
	}
	for i, ch := range alt.Choices {
		var text string
		if len(ch.Delta.Reasoning) > 0 && json.Unmarshal(ch.Delta.Reasoning, &text) == nil && chunk.Choices[i].Delta.ReasoningContent == "" {
			chunk.Choices[i].Delta.ReasoningContent = text
		}
	}
	return chunk, nil
}

// classify turns a go-openai error into a classified one.
func (c *Chat) classify(x *exchange, op string, err error) error {
	status, header := x.status()
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case x.ctx.Err() != nil:
		return x.fail(op, err)
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode >= 300:
		me := classifyStatus(apiErr.HTTPStatusCode, header, fromOpenAIError(apiErr), true, "", c.s.now())
		me.Err = err
		return me
	case errors.As(err, &reqErr) && reqErr.HTTPStatusCode >= 300:
		return statusError(reqErr.HTTPStatusCode, header, reqErr.Body, c.s.now())
	case errors.As(err, &apiErr):
		// An error object inside the event stream.
		me := failedError(fromOpenAIError(apiErr))
		me.Err = err
		return me
	case errors.Is(err, openai.ErrTooManyEmptyStreamMessages):
		return malformed("", nil, err)
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return malformed("chat.completion.chunk", nil, err)
	}
	if status == 0 && !x.sent() {
		// go-openai refused the request before sending it (its model
		// and reasoning checks).
		return &agent.ModelError{Class: agent.ErrInvalidRequest, Message: op, Err: err}
	}
	return x.fail(op, err)
}

// emptyToolOutput stands in for an empty tool output.
const emptyToolOutput = "(no output)"

// chatMessages maps the instructions and history to chat messages (the
// lossy mapping documented in the package documentation).
func chatMessages(instructions string, items []rollout.ResponseItem, lateSystemAsUser bool, log *slog.Logger) []openai.ChatCompletionMessage {
	var msgs []openai.ChatCompletionMessage
	if instructions != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: instructions})
	}
	// asst collects consecutive model-side items (reasoning, assistant
	// text, tool calls) into one assistant message, as chat requires the
	// calls to sit on the assistant message their outputs follow.
	var asst *openai.ChatCompletionMessage
	var asstText []string
	started := false // a non-system message was emitted
	flush := func() {
		if asst == nil {
			return
		}
		asst.Content = strings.Join(asstText, "\n\n")
		msgs = append(msgs, *asst)
		asst, asstText = nil, nil
		started = true
	}
	open := func() {
		if asst == nil {
			asst = &openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant}
		}
	}
	for i := range items {
		it := &items[i]
		switch it.Type {
		case rollout.ItemMessage:
			if it.Role == rollout.RoleAssistant {
				open()
				if t := it.Text(); t != "" {
					asstText = append(asstText, t)
				}
				continue
			}
			flush()
			m := inputMessage(it)
			if m.Role == openai.ChatMessageRoleSystem && lateSystemAsUser && started {
				m.Role, m.Content = openai.ChatMessageRoleUser, "[developer]\n"+m.Content
			}
			started = started || m.Role != openai.ChatMessageRoleSystem
			msgs = append(msgs, m)
		case rollout.ItemReasoning:
			if t := reasoningText(it); t != "" {
				open()
				asstText = append(asstText, "<reasoning>\n"+t+"\n</reasoning>")
			}
		case rollout.ItemFunctionCall, rollout.ItemCustomToolCall:
			open()
			args := it.Arguments
			if it.Type == rollout.ItemCustomToolCall {
				args = it.Input
			}
			asst.ToolCalls = append(asst.ToolCalls, openai.ToolCall{
				ID:       it.CallID,
				Type:     openai.ToolTypeFunction,
				Function: openai.FunctionCall{Name: it.Name, Arguments: args},
			})
		case rollout.ItemFunctionCallOutput, rollout.ItemCustomToolCallOutput:
			flush()
			out := it.Output.String()
			if out == "" {
				// Chat servers require content on tool messages, and
				// go-openai leaves an empty one out.
				out = emptyToolOutput
			}
			msgs = append(msgs, openai.ChatCompletionMessage{
				Role:       openai.ChatMessageRoleTool,
				ToolCallID: it.CallID,
				Content:    out,
			})
			started = true
		case rollout.ItemAgentMessage:
			flush()
			msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: agentMessageText(it)})
			started = true
		default:
			log.Debug("openaimodel: chat: dropping an item chat cannot carry", "type", it.Type)
		}
	}
	flush()
	return msgs
}

// inputMessage maps a user, developer or system message. Developer
// messages become system messages: most chat servers do not know the
// developer role.
func inputMessage(it *rollout.ResponseItem) openai.ChatCompletionMessage {
	role := openai.ChatMessageRoleUser
	switch it.Role {
	case rollout.RoleDeveloper, rollout.RoleSystem:
		role = openai.ChatMessageRoleSystem
	}
	hasImage := false
	for _, p := range it.Content {
		if p.Type == rollout.PartInputImage && p.ImageURL != "" {
			hasImage = true
		}
	}
	if !hasImage || role != openai.ChatMessageRoleUser {
		return openai.ChatCompletionMessage{Role: role, Content: it.Text()}
	}
	m := openai.ChatCompletionMessage{Role: role}
	for _, p := range it.Content {
		switch {
		case p.Type == rollout.PartInputImage && p.ImageURL != "":
			m.MultiContent = append(m.MultiContent, openai.ChatMessagePart{
				Type:     openai.ChatMessagePartTypeImageURL,
				ImageURL: &openai.ChatMessageImageURL{URL: p.ImageURL, Detail: openai.ImageURLDetail(p.Detail)},
			})
		case p.Text != "":
			m.MultiContent = append(m.MultiContent, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeText, Text: p.Text})
		}
	}
	return m
}

// reasoningText is the visible text of a reasoning item: its summary, or
// its raw reasoning text when it has no summary. Encrypted content is not
// readable by another server and is dropped.
func reasoningText(it *rollout.ResponseItem) string {
	var parts []string
	for _, p := range it.Summary {
		if p.Text != "" {
			parts = append(parts, p.Text)
		}
	}
	if len(parts) == 0 {
		for _, p := range it.Content {
			if p.Text != "" {
				parts = append(parts, p.Text)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// agentMessageText renders an agent_message (mail between agents) as the
// text of a user message: a header naming sender and recipient, then every
// part's text, encrypted parts included as they are.
func agentMessageText(it *rollout.ResponseItem) string {
	var sb strings.Builder
	sb.WriteString("[agent message")
	if it.Author != "" {
		sb.WriteString(" from " + it.Author)
	}
	if it.Recipient != "" {
		sb.WriteString(" to " + it.Recipient)
	}
	sb.WriteString("]")
	for _, p := range it.Content {
		t := p.Text
		if t == "" {
			t = p.EncryptedContent
		}
		if t != "" {
			sb.WriteString("\n" + t)
		}
	}
	return sb.String()
}
