package control

import (
	"context"
	"iter"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
)

// tracerName is the instrumentation scope of the runtime's spans.
const tracerName = "github.com/troupe-run/troupe/control"

// Span names and attribute keys.
const (
	spanTurn  = "troupe.turn"
	spanTool  = "troupe.tool"
	spanModel = "troupe.model"

	attrAgentPath = attribute.Key("troupe.agent.path")
	attrThreadID  = attribute.Key("troupe.thread.id")
	attrSessionID = attribute.Key("troupe.session.id")
	attrTurnID    = attribute.Key("troupe.turn.id")
	attrTool      = attribute.Key("troupe.tool.name")
	attrCallID    = attribute.Key("troupe.tool.call_id")
	attrAborted   = attribute.Key("troupe.turn.aborted")
	attrChild     = attribute.Key("troupe.child.path")
)

// nodeTrace is a node's tracing state. parent is the span its turns are
// children of: for a spawned agent the spawn_agent call that created it;
// for a root the span in the context of the last Submit, used by the next
// turn that starts. turn is the span of the running turn.
type nodeTrace struct {
	mu     sync.Mutex
	parent trace.SpanContext
	submit trace.SpanContext
	turn   trace.Span
}

// turnStarted opens the span of turn turnID (OnTurnStart).
func (n *node) turnSpanStart(turnID string) {
	tr := n.rt.tracer
	if tr == nil {
		return
	}
	n.tr.mu.Lock()
	defer n.tr.mu.Unlock()
	parent := n.tr.parent
	if n.tr.submit.IsValid() {
		parent, n.tr.submit = n.tr.submit, trace.SpanContext{}
	}
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, parent)
	}
	_, span := tr.Start(ctx, spanTurn, trace.WithAttributes(
		attrAgentPath.String(n.path.String()),
		attrThreadID.String(string(n.id)),
		attrSessionID.String(string(n.tree.session)),
		attrTurnID.String(turnID)))
	if n.tr.turn != nil {
		n.tr.turn.End() // not expected: one turn at a time
	}
	n.tr.turn = span
}

// turnSpanEnd closes the running turn's span with its outcome (OnTurnEnd).
func (n *node) turnSpanEnd(r agent.TurnResult) {
	if n.rt.tracer == nil {
		return
	}
	n.tr.mu.Lock()
	span := n.tr.turn
	n.tr.turn = nil
	n.tr.mu.Unlock()
	if span == nil {
		return
	}
	switch {
	case r.Aborted != "":
		span.SetAttributes(attrAborted.String(string(r.Aborted)))
	case r.Err != nil:
		span.SetStatus(codes.Error, r.Err.Message)
	}
	span.End()
}

// traceNextTurnUnder makes the span in ctx (a followup_task call) the
// parent of n's next turn, when n is not running one (a follow-up to a
// running agent joins its turn). The returned func undoes it if that turn
// has not started (the mail was not delivered).
func (n *node) traceNextTurnUnder(ctx context.Context) (forget func()) {
	sc := trace.SpanContextFromContext(ctx)
	if n.rt.tracer == nil || !sc.IsValid() {
		return func() {}
	}
	n.tr.mu.Lock()
	defer n.tr.mu.Unlock()
	if n.tr.turn != nil {
		return func() {}
	}
	n.tr.submit = sc
	return func() {
		n.tr.mu.Lock()
		defer n.tr.mu.Unlock()
		if n.tr.submit.Equal(sc) {
			n.tr.submit = trace.SpanContext{}
		}
	}
}

// turnContext returns ctx carrying the running turn's span, so spans
// started from it (tool calls, model requests) are its children.
func (n *node) turnContext(ctx context.Context) context.Context {
	n.tr.mu.Lock()
	defer n.tr.mu.Unlock()
	if n.tr.turn == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, n.tr.turn)
}

// toolSpan starts the span of a multi-agent tool call under the caller's
// turn. The returned context carries it (spawn_agent hands it to the
// child); end closes it with the call's outcome.
func (n *node) toolSpan(ctx context.Context, name string, call capability.Call) (context.Context, func(capability.Output, error)) {
	tr := n.rt.tracer
	if tr == nil {
		return ctx, func(capability.Output, error) {}
	}
	ctx, span := tr.Start(n.turnContext(ctx), spanTool+" "+name, trace.WithAttributes(
		attrTool.String(name),
		attrCallID.String(call.ID),
		attrAgentPath.String(n.path.String()),
		attrTurnID.String(call.TurnID)))
	return ctx, func(out capability.Output, err error) {
		switch {
		case err != nil:
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		case out.IsError:
			span.SetStatus(codes.Error, out.Text)
		}
		span.End()
	}
}

// traceModel wraps one model request of n in a span under n's turn and
// passes the span in the context to the model (an instrumented HTTP client
// propagates it to the provider).
func (rt *Runtime) traceModel(ctx context.Context, n *node, req *agent.Request, stream func(context.Context) iter.Seq2[agent.StreamEvent, error]) iter.Seq2[agent.StreamEvent, error] {
	if rt.tracer == nil || n == nil {
		return stream(ctx)
	}
	return func(yield func(agent.StreamEvent, error) bool) {
		ctx, span := rt.tracer.Start(n.turnContext(ctx), spanModel, trace.WithAttributes(
			attrAgentPath.String(n.path.String()),
			attrTurnID.String(req.Metadata.TurnID)))
		defer span.End()
		for ev, err := range stream(ctx) {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}
