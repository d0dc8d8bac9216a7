package control

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-run/troupe/agent/modeltest"
)

// TestTraceParentToChild: with a tracer, a tree's work is one trace: the
// root's turn is under the span of the Submit context, each spawn_agent
// call under its caller's turn, and a spawned agent's turns under the
// spawn_agent call that created it.
func TestTraceParentToChild(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	e := newEnv(t, func(c *Config) { c.TracerProvider = tp })
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"a","message":"task a","fork_turns":"none"}`),
		modeltest.Text("root done"))
	m.Route(modeltest.ForAgent("/root/a"),
		modeltest.CallID("c2", "spawn_agent", `{"task_name":"b","message":"task b","fork_turns":"none"}`),
		modeltest.Text("a done"))
	m.Route(modeltest.ForAgent("/root/a/b"), modeltest.Text("b done"))
	root := e.start()

	ctx, outer := tp.Tracer("test").Start(context.Background(), "request")
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	turn, err := root.Submit(tctx, "go")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := turn.Wait(tctx); err != nil {
		t.Fatal(err)
	}
	outer.End()
	e.waitStatus(root, "/root/a/b", StatusCompleted)
	e.waitStatus(root, "/root/a", StatusCompleted)

	// Spans end on the agents' goroutines after their statuses are set:
	// wait for the last turn span.
	var spans []sdktrace.ReadOnlySpan
	waitFor(t, "three turn spans", func() bool {
		spans = rec.Ended()
		n := 0
		for _, s := range spans {
			if s.Name() == spanTurn {
				n++
			}
		}
		return n == 3
	})
	turnOf := map[string]sdktrace.ReadOnlySpan{}
	toolOf := map[string]sdktrace.ReadOnlySpan{} // spawn_agent call by caller path
	models := 0
	for _, s := range spans {
		path := attr(s, attrAgentPath)
		switch {
		case s.Name() == spanTurn:
			turnOf[path] = s
		case s.Name() == spanTool+" spawn_agent":
			toolOf[path] = s
		case s.Name() == spanModel:
			models++
			if tu := turnOf[path]; tu != nil && s.Parent().SpanID() != tu.SpanContext().SpanID() {
				t.Errorf("model span of %s: parent %s, want its turn %s", path, s.Parent().SpanID(), tu.SpanContext().SpanID())
			}
		}
	}
	if models != 5 {
		t.Errorf("model spans = %d, want 5 (one per request)", models)
	}
	traceID := outer.SpanContext().TraceID()
	for _, tt := range []struct {
		name   string
		span   sdktrace.ReadOnlySpan
		parent trace.SpanContext
	}{
		{"/root turn", turnOf["/root"], outer.SpanContext()},
		{"/root spawn_agent", toolOf["/root"], spanCtx(turnOf["/root"])},
		{"/root/a turn", turnOf["/root/a"], spanCtx(toolOf["/root"])},
		{"/root/a spawn_agent", toolOf["/root/a"], spanCtx(turnOf["/root/a"])},
		{"/root/a/b turn", turnOf["/root/a/b"], spanCtx(toolOf["/root/a"])},
	} {
		if tt.span == nil {
			t.Errorf("%s: no span", tt.name)
			continue
		}
		if got := tt.span.SpanContext().TraceID(); got != traceID {
			t.Errorf("%s: trace %s, want %s", tt.name, got, traceID)
		}
		if got := tt.span.Parent().SpanID(); got != tt.parent.SpanID() {
			t.Errorf("%s: parent span %s, want %s", tt.name, got, tt.parent.SpanID())
		}
	}
	if s := turnOf["/root/a/b"]; s != nil && attr(s, attrSessionID) != string(root.ID()) {
		t.Errorf("/root/a/b turn: session attribute %q, want %s", attr(s, attrSessionID), root.ID())
	}

	// A follow-up's turn is a child of the followup_task call.
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c5", "followup_task", `{"target":"a","message":"more"}`),
		modeltest.Text("asked"))
	m.Route(modeltest.ForAgent("/root/a"), modeltest.Text("a again"))
	e.submit(root, "follow up")
	waitFor(t, "a's second turn span", func() bool {
		n := 0
		for _, s := range rec.Ended() {
			if s.Name() == spanTurn && attr(s, attrAgentPath) == "/root/a" {
				n++
			}
		}
		return n == 2
	})
	var followup, second sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.Name() == spanTool+" followup_task":
			followup = s
		case s.Name() == spanTurn && attr(s, attrAgentPath) == "/root/a" && s.SpanContext().SpanID() != turnOf["/root/a"].SpanContext().SpanID():
			second = s
		}
	}
	if followup == nil || second == nil {
		t.Fatalf("followup span %v, a's second turn %v", followup, second)
	}
	if second.Parent().SpanID() != followup.SpanContext().SpanID() {
		t.Errorf("/root/a's follow-up turn: parent %s, want the followup_task call %s", second.Parent().SpanID(), followup.SpanContext().SpanID())
	}
}

func spanCtx(s sdktrace.ReadOnlySpan) trace.SpanContext {
	if s == nil {
		return trace.SpanContext{}
	}
	return s.SpanContext()
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.AsString()
		}
	}
	return ""
}
