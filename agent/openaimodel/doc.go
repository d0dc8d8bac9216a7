// Package openaimodel adapts OpenAI-style model servers to agent.Model: the
// Responses API (Responses, for OpenAI and servers that speak it) and the
// Chat Completions API (Chat, for vLLM, Ollama, LM Studio, llama.cpp and
// other servers without Responses). It is the only package that imports
// go-openai.
//
// # Usage
//
//	model, err := openaimodel.NewResponses(openaimodel.Config{
//		APIKey: os.Getenv("OPENAI_API_KEY"),
//		Model:  "gpt-5",
//		Logger: logger,
//	})
//	// or, for a local server:
//	model, err := openaimodel.NewChat(openaimodel.Config{
//		BaseURL: "http://localhost:11434/v1",
//		Model:   "qwen3:8b",
//	})
//
// The model is then handed to the agent, which calls Stream once per model
// step and ranges over the events. Nothing is sent until the sequence is
// ranged over; every Stream call is one HTTP request. The adapters never
// retry: the agent owns the retry policy (agent.Retryable), and an adapter
// reports each failure once, classified.
//
// # Config zero values
//
// BaseURL "" is https://api.openai.com/v1. APIKey "" sends no
// Authorization header. Model is required. HTTPClient nil is a new
// http.Client with no Timeout over http.DefaultTransport. Organization,
// Project and Header empty add no headers. RequestTimeout 0 puts no bound
// on the wait for response headers beyond the caller's context.
// IdleTimeout 0 is DefaultIdleTimeout (five minutes, Codex's stream idle
// timeout); negative disables it. Passthrough zero is PassthroughAuto
// (kept for api.openai.com, stripped elsewhere). DropItemIDs false sends
// item ids. ReasoningEffort, ReasoningSummary and Verbosity "" leave those
// parameters out. DisableStreamUsage false asks chat servers for usage.
// ChatLateSystemAsUser false keeps every developer and system message a
// system message. MaxEventBytes 0 is DefaultMaxEventBytes. Logger nil
// discards. Now nil is time.Now.
//
// # The Responses adapter
//
// POST {BaseURL}/responses with: model, instructions (left out when
// empty), input (the request's rollout.ResponseItem values one for one,
// in their Codex JSON form: messages, agent_message, reasoning with
// encrypted_content, function_call and function_call_output, and item types
// this module does not model, with every member they carry), tools (each
// capability.Spec as a function tool with its JSON schema, strict:false),
// tool_choice "auto", parallel_tool_calls, reasoning (when configured),
// store:false, stream:true, include ["reasoning.encrypted_content"] (with
// store:false the encrypted reasoning is how the model keeps its earlier
// thinking), prompt_cache_key (the thread id, so one thread's requests share
// a cache prefix) and client_metadata (session_id, thread_id, turn_id,
// x-codex-window-id, agent_name), and text.verbosity when configured.
//
// Headers name the request as Codex 0.169 does: session-id, thread-id and
// x-client-request-id carry the thread id; x-codex-window-id the window id
// ("{thread_id}:{window_number}"); x-codex-turn-metadata a JSON object with
// session_id, thread_id, agent_name, turn_id and window_id. Authorization,
// OpenAI-Organization, OpenAI-Project and Config.Header follow.
//
// Codex records internal_chat_message_metadata_passthrough (the turn id)
// in every item. Config.Passthrough decides whether it is sent, and
// Config.DropItemIDs whether item ids are; both work on copies, never on
// the caller's items.
//
// Stream events map to agent.StreamEvent: response.output_item.added and
// .done to StreamItemAdded and StreamItemDone (the item decoded with all
// its members), response.output_text.delta to StreamTextDelta,
// response.reasoning_summary_text.delta to StreamReasoningSummaryDelta
// (Index = summary_index), response.reasoning_text.delta to
// StreamReasoningContentDelta (Index = content_index), and
// response.completed to StreamCompleted with the response id, usage
// (input, cached input, output, reasoning output and total tokens) and
// end_turn. The stream ends there. Events that add nothing to the done
// items (response.created, content_part.*, function_call_arguments.*, ...)
// and event types this package does not know are skipped.
//
// The request and event stream are spoken with net/http and this
// package's SSE reader rather than go-openai's CreateResponseStream
// (v1.43.0): its error path drops the response headers (so Retry-After is
// lost), client_metadata would have to go through ExtraBody, which
// re-encodes the whole request (the whole history, every step) through
// map[string]any, and its line reader drops a last event that is not
// newline-terminated and cannot bound the size of a line. go-openai's
// ErrorResponse still decodes error bodies.
//
// # The Chat adapter
//
// POST {BaseURL}/chat/completions through go-openai's streaming chat
// client, with messages, tools (function tools), tool_choice "auto" and
// parallel_tool_calls (only when there are tools), reasoning_effort and
// verbosity (when configured) and stream_options.include_usage (unless
// DisableStreamUsage). Headers are the Responses adapter's.
//
// Chat messages cannot carry everything a Responses history holds. The
// mapping, item by item:
//
//	instructions                   → system message, first
//	message user                   → user message (text parts joined with
//	                                 "\n"; input_image parts become image_url
//	                                 parts, with their detail)
//	message developer, system      → system message (text only; most chat
//	                                 servers do not know "developer"); with
//	                                 ChatLateSystemAsUser, one that follows
//	                                 the first non-system message becomes a
//	                                 user message "[developer]\n{text}"
//	message assistant              → assistant message text (phase dropped)
//	reasoning                      → "<reasoning>\n{summary}\n</reasoning>" in
//	                                 the assistant message text (the raw
//	                                 reasoning text when there is no summary;
//	                                 encrypted_content dropped; an item with
//	                                 no readable text is dropped)
//	function_call                  → a tool_calls entry of the assistant
//	                                 message (id = call_id, namespace dropped)
//	custom_tool_call               → a tool_calls entry whose arguments are
//	                                 the raw input (not JSON)
//	function_call_output,
//	custom_tool_call_output        → tool message (tool_call_id = call_id;
//	                                 text parts joined, images dropped; an
//	                                 empty output is sent as "(no output)")
//	agent_message                  → user message "[agent message from
//	                                 {author} to {recipient}]" followed by
//	                                 each part's text (encrypted_content
//	                                 parts included as they are)
//	additional_tools, ghost_snapshot,
//	compaction_trigger, web_search_call,
//	local_shell_call, other types  → dropped (logged at debug level)
//
// Consecutive model-side items (reasoning, assistant messages, calls)
// become one assistant message, because chat requires the tool calls of a
// turn on the assistant message their tool messages follow; item ids and
// passthrough metadata are never sent.
//
// Streamed back: reasoning deltas (the reasoning_content member of vLLM,
// DeepSeek and LM Studio, or the reasoning member of Ollama, OpenRouter
// and newer vLLM) open a reasoning item and stream as
// StreamReasoningContentDelta (Index 0; reasoning that follows content is
// dropped); content (and refusal) deltas close it and stream as
// StreamTextDelta of an assistant message item; tool-call pieces are assembled by index
// (by id, or by position in their chunk, for servers that send no index)
// and reported as function_call items. All items are reported done when
// the stream finishes: the reasoning item (with a reasoning_text part),
// then the message (one output_text part), then the calls in index order,
// then StreamCompleted with the chunk id as response id and the usage of
// the final chunk. Items carry no id (the agent fills them in); a call
// without an id gets "call_{response id}_{index}". finish_reason "stop",
// "tool_calls" (and any other value) complete the response; "length" ends
// it with agent.ErrStreamClosed ("incomplete response", like the Responses
// API's response.incomplete); "content_filter" with
// agent.ErrInvalidRequest; a stream that ends with no finish reason with
// agent.ErrStreamClosed, without reporting the partial items done.
//
// # Errors
//
// Every failure is a *agent.ModelError whose Class is an agent.Err*
// sentinel, except the caller's cancellation, which is returned wrapping
// context.Canceled (or DeadlineExceeded) so agent.Retryable treats it as
// final.
//
//	response.failed / error event code:
//	  context_length_exceeded           → ErrContextWindowExceeded
//	  insufficient_quota,
//	  usage_not_included                → ErrQuotaExceeded
//	  rate_limit_exceeded               → ErrRateLimited, RetryAfter from
//	                                      "try again in Ns" / "Nms"
//	  server_error, server_is_overloaded,
//	  slow_down                         → ErrServer
//	  invalid_prompt, bio_policy,
//	  cyber_policy, ...                 → ErrInvalidRequest
//	  any other code                    → ErrServer (retryable), RetryAfter
//	                                      from the message
//	response.incomplete                 → ErrStreamClosed, with the reason
//	HTTP status (a classifying error code in the body wins for 4xx):
//	  400, 404, 409, 422, other 4xx     → ErrInvalidRequest
//	  401, 403                          → ErrInvalidRequest, or
//	                                      ErrQuotaExceeded by the body
//	  408                               → ErrTimeout
//	  429                               → ErrRateLimited (ErrQuotaExceeded
//	                                      for insufficient_quota), RetryAfter
//	                                      from retry-after-ms, Retry-After
//	                                      (seconds or HTTP date) or the
//	                                      message
//	  5xx                               → ErrServer, RetryAfter as for 429
//	end of stream before completion,
//	connection reset, refused dial      → ErrStreamClosed
//	RequestTimeout, IdleTimeout fired   → ErrTimeout
//	2xx JSON document, not a stream     → its error object's class, else
//	                                      ErrInvalidRequest
//	undecodable event or chunk,
//	event over MaxEventBytes            → ErrServer wrapping an *EventError
//	                                      (errors.Is ErrMalformedEvent)
//
// # Concurrency and ownership
//
// Responses and Chat are safe for concurrent use by many agents: after
// construction they are read-only, and each Stream call owns its own
// request, response body and timers. A stream starts no goroutine of its
// own (the time limits use time.AfterFunc timers, stopped when the stream
// ends). The sequence owns the response body: it closes it when the stream
// completes or fails, when the consumer stops ranging early, and when ctx
// is cancelled (which also aborts a read in progress), so the connection is
// released in every case. The caller owns Config.HTTPClient; the adapters
// never close its idle connections.
//
// # Testing
//
// The tests replay recorded and hand-built event streams from testdata
// (Codex 0.169 corpus streams, an OpenAI-shaped reasoning and parallel-call
// stream, chat streams with split tool-call arguments) through httptest
// servers and check what the servers received; agent_test.go runs whole
// turns of a real agent.Agent over both adapters. FuzzSSEReader,
// FuzzResponsesEvent and FuzzChatChunks fuzz the decoders of outside
// input. No test leaves loopback.
package openaimodel
