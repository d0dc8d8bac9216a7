package agent_test

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// stepsPerTurn is the number of model steps of one benchmark turn: calls
// of a no-op tool, then a final answer.
const stepsPerTurn = 10

// loopModel is a zero-latency model: each request gets a no-op tool call
// until the turn has stepsPerTurn steps, then a final answer. It counts a
// turn's steps by the outputs after its last user message.
func loopModel() agent.Model {
	return agent.ModelFunc(func(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
		steps := 0
		for i := len(req.Input) - 1; i >= 0 && !req.Input[i].IsUserMessage(); i-- {
			if req.Input[i].Type == rollout.ItemFunctionCallOutput {
				steps++
			}
		}
		return func(yield func(agent.StreamEvent, error) bool) {
			var item *rollout.ResponseItem
			if steps+1 < stepsPerTurn {
				item = rollout.NewFunctionCall(fmt.Sprintf("call_%d", steps), "noop", `{}`)
			} else {
				item = rollout.NewMessage(rollout.RoleAssistant, "done")
				item.Phase = rollout.PhaseFinalAnswer
			}
			if !yield(agent.StreamEvent{Kind: agent.StreamItemDone, Item: item}, nil) {
				return
			}
			yield(agent.StreamEvent{Kind: agent.StreamCompleted, Usage: &agent.TokenUsage{InputTokens: 100, OutputTokens: 10, TotalTokens: 110}}, nil)
		}
	})
}

var noop = capability.Func{
	S: capability.Spec{Name: "noop", ParallelSafe: true},
	Fn: func(context.Context, capability.Call) (capability.Output, error) {
		return capability.Output{Text: "ok"}, nil
	},
}

func benchRecorder(b *testing.B, id rollout.ThreadID) *rollout.Recorder {
	created := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{
		Path: rollout.SessionPath(b.TempDir(), created, id),
		Meta: &rollout.SessionMeta{ID: id, Timestamp: rollout.FormatTimestamp(created), HistoryMode: rollout.HistoryModePaginated},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rec.Close() })
	return rec
}

func benchAgent(b *testing.B, i int, persist bool) *agent.Agent {
	id := rollout.ThreadID(fmt.Sprintf("01a21136-be7b-7fa3-a673-%012d", i))
	cfg := agent.Config{
		ThreadID:    id,
		Model:       loopModel(),
		Tools:       []capability.Tool{noop},
		HistoryMode: rollout.HistoryModePaginated,
		Logger:      slog.New(slog.DiscardHandler),
	}
	if persist {
		cfg.Recorder = benchRecorder(b, id)
	}
	a, err := agent.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.Run(context.Background()) }()
	b.Cleanup(func() { a.Close(); <-done })
	return a
}

// runTurns runs turns until steps steps are done.
func runTurns(b *testing.B, a *agent.Agent, steps int) {
	for n := 0; n < steps; n += stepsPerTurn {
		turn, err := a.Submit(context.Background(), "go")
		if err != nil {
			b.Error(err)
			return
		}
		if res, _ := turn.Wait(context.Background()); res.LastAgentMessage != "done" {
			b.Errorf("turn result %+v", res)
			return
		}
	}
}

// BenchmarkStep measures the runtime's overhead per model step (one op =
// one step) with a zero-latency model and a real paginated rollout,
// against a baseline that does the same model calls and rollout writes
// without the agent (BenchmarkStep/baseline).
func BenchmarkStep(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		id := rollout.ThreadID("01a21136-be7b-7fa3-a673-000000000000")
		rec := benchRecorder(b, id)
		model := loopModel()
		var history []rollout.ResponseItem
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if i%stepsPerTurn == 0 {
				u := rollout.NewMessage(rollout.RoleUser, "go")
				history = append(history, *u)
				_ = rec.Append(u)
			}
			req := &agent.Request{Input: history}
			for ev := range model.Stream(context.Background(), req) {
				if ev.Kind == agent.StreamItemDone {
					history = append(history, *ev.Item)
					_ = rec.Append(ev.Item)
					if ev.Item.Type == rollout.ItemFunctionCall {
						out := rollout.NewFunctionCallOutput(ev.Item.CallID, "ok")
						history = append(history, *out)
						_ = rec.Append(out)
					}
				}
			}
			if i%stepsPerTurn == stepsPerTurn-1 {
				_ = rec.Flush(context.Background())
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	})
	b.Run("agents=1", func(b *testing.B) {
		a := benchAgent(b, 0, true)
		b.ReportAllocs()
		b.ResetTimer()
		runTurns(b, a, b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	})
	b.Run("agents=100", func(b *testing.B) {
		const n = 100
		agents := make([]*agent.Agent, n)
		for i := range agents {
			agents[i] = benchAgent(b, i, true)
		}
		b.ReportAllocs()
		b.ResetTimer()
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Go(func() { runTurns(b, a, (b.N+n-1)/n) })
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	})
}

// BenchmarkStepInMemory isolates the runtime's CPU overhead per step: no
// rollout, against a baseline that only calls the model and appends to a
// history slice (which grows over the run, as the agent's does).
func BenchmarkStepInMemory(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		model := loopModel()
		var history []rollout.ResponseItem
		b.ReportAllocs()
		for i := range b.N {
			if i%stepsPerTurn == 0 {
				history = append(history, *rollout.NewMessage(rollout.RoleUser, "go"))
			}
			for ev := range model.Stream(context.Background(), &agent.Request{Input: history}) {
				if ev.Kind == agent.StreamItemDone {
					history = append(history, *ev.Item)
					if ev.Item.Type == rollout.ItemFunctionCall {
						history = append(history, *rollout.NewFunctionCallOutput(ev.Item.CallID, "ok"))
					}
				}
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	})
	b.Run("agents=1", func(b *testing.B) {
		a := benchAgent(b, 0, false)
		b.ReportAllocs()
		b.ResetTimer()
		runTurns(b, a, b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	})
}

// BenchmarkIdleAgent measures the memory of an idle, running agent (heap
// plus goroutine stack), per agent. The baseline is an idle goroutine.
func BenchmarkIdleAgent(b *testing.B) {
	const n = 1000
	measure := func(b *testing.B, spawn func(i int) func()) {
		var before, after runtime.MemStats
		for range b.N {
			runtime.GC()
			runtime.ReadMemStats(&before)
			stops := make([]func(), n)
			for i := range stops {
				stops[i] = spawn(i)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			for _, stop := range stops {
				stop()
			}
		}
		used := (after.HeapAlloc + after.StackInuse) - (before.HeapAlloc + before.StackInuse)
		b.ReportMetric(float64(used)/n, "B/agent")
	}
	b.Run("baseline-goroutine", func(b *testing.B) {
		measure(b, func(int) func() {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { defer close(done); <-stop }()
			return func() { close(stop); <-done }
		})
	})
	b.Run("agent", func(b *testing.B) {
		model := loopModel()
		measure(b, func(i int) func() {
			a, err := agent.New(agent.Config{
				ThreadID: rollout.ThreadID(fmt.Sprintf("01a21136-be7b-7fa3-a673-%012d", i)),
				Model:    model,
				Tools:    []capability.Tool{noop},
			})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); a.Run(context.Background()) }()
			return func() { a.Close(); <-done }
		})
	})
}
