// Package agent owns one agent's life: the thread it owns, the turn loop
// (model steps, tool dispatch, steering, interruption, sleep), world state,
// context windows and the Model interface. It never routes to other agents;
// package control does.
//
// # Contracts
//
// Model is the one call the agent makes to a language model: a Request
// (instructions, normalized history as rollout.ResponseItem values, tool
// specs, the parallel-tool-calls flag and metadata naming the thread, turn
// and context window) answered by a stream of StreamEvent values. Failures
// are *ModelError values whose Class is one of the Err* sentinels;
// Retryable tells the agent whether to retry and after how long.
//
// Tools are capability.Tool values. Events reported to embedders are the
// Event types of events.go; the items they carry are the TurnItem types of
// items.go, whose JSON form is Codex's.
package agent
