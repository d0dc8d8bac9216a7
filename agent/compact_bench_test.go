package agent_test

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// summarizingModel answers summary requests (the last input is the
// summarization prompt) with a short summary and everything else as
// loopModel does.
func summarizingModel() agent.Model {
	loop := loopModel()
	return agent.ModelFunc(func(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
		if n := len(req.Input); n == 0 || req.Input[n-1].Text() != agent.DefaultSummarizationPrompt {
			return loop.Stream(ctx, req)
		}
		return func(yield func(agent.StreamEvent, error) bool) {
			msg := rollout.NewMessage(rollout.RoleAssistant, "the user asked questions; they were answered")
			if yield(agent.StreamEvent{Kind: agent.StreamItemDone, Item: msg}, nil) {
				yield(agent.StreamEvent{Kind: agent.StreamCompleted, Usage: &agent.TokenUsage{TotalTokens: 2000}}, nil)
			}
		}
	})
}

// longHistory is a history of n items: user questions and answers.
func longHistory(n int) []rollout.ResponseItem {
	h := make([]rollout.ResponseItem, n)
	for i := range h {
		if i%2 == 0 {
			h[i] = *rollout.NewMessage(rollout.RoleUser, fmt.Sprintf("question %d: what about the thing we discussed?", i))
		} else {
			h[i] = *rollout.NewMessage(rollout.RoleAssistant, fmt.Sprintf("answer %d: here is a paragraph about it, long enough to matter.", i))
		}
	}
	return h
}

func benchCompactAgent(b *testing.B, i int, history []rollout.ResponseItem) (*agent.Agent, func()) {
	id := rollout.ThreadID(fmt.Sprintf("01a21136-be7b-7fa3-a673-%012d", i))
	a, err := agent.New(agent.Config{
		ThreadID:    id,
		Model:       summarizingModel(),
		Tools:       []capability.Tool{noop},
		History:     history,
		Recorder:    benchRecorder(b, id),
		HistoryMode: rollout.HistoryModePaginated,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.Run(context.Background()) }()
	return a, func() { a.Close(); <-done }
}

// BenchmarkCompaction measures a compaction turn (summary request with a
// zero-latency model, replacement history, window advance, compacted
// record) of a 1000-item history, against a baseline turn of stepsPerTurn
// model steps on the same history (BenchmarkCompaction/turn). One op = one
// turn; compare ns/op.
func BenchmarkCompaction(b *testing.B) {
	const items = 1000
	b.Run("turn", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			b.StopTimer()
			a, stop := benchCompactAgent(b, i, longHistory(items))
			b.StartTimer()
			runTurns(b, a, stepsPerTurn)
			b.StopTimer()
			stop()
			b.StartTimer()
		}
	})
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			b.StopTimer()
			a, stop := benchCompactAgent(b, i, longHistory(items))
			b.StartTimer()
			turn, err := a.Compact(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if res, _ := turn.Wait(context.Background()); res.Err != nil {
				b.Fatal(res.Err)
			}
			b.StopTimer()
			if w := a.Window(); w.Number != 1 {
				b.Fatalf("window %+v", w)
			}
			stop()
			b.StartTimer()
		}
	})
}
