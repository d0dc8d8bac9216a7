package control

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

var bench10k = flag.Bool("control.bench10k", false, "also run BenchmarkSpawnTurn with 10 000 agents")

// BenchmarkSpawnTurn: a root spawns n agents in one response; each runs one
// scripted turn and sends its FINAL_ANSWER back. Reported: agents/s and
// heap per idle agent (after all completed), per size, so growth can be
// compared across sizes of the same run; and per way of writing threads:
// rollout recorders with an in-memory edge index (the baseline), or a
// sqlitestore.Store (Config.Store: index rows and edges kept current).
func BenchmarkSpawnTurn(b *testing.B) {
	sizes := []int{100, 1000}
	if *bench10k {
		sizes = append(sizes, 10000)
	}
	for _, onStore := range []bool{false, true} {
		for _, n := range sizes {
			name := fmt.Sprintf("recorder/agents=%d", n)
			if onStore {
				name = fmt.Sprintf("store/agents=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					benchSpawn(b, n, onStore)
				}
			})
		}
	}
}

func benchSpawn(b *testing.B, n int, onStore bool) {
	b.StopTimer()
	m := modeltest.New(b)
	calls := make([]modeltest.Scripted, n)
	for i := range calls {
		calls[i] = modeltest.CallID(fmt.Sprintf("c%d", i), "spawn_agent", fmt.Sprintf(`{"task_name":"w%d","message":"t","fork_turns":"none"}`, i))
	}
	m.Route(modeltest.ForAgent("/root"), modeltest.Respond(calls...), modeltest.Text("root done"))
	m.Route(func(r *agent.Request) bool { return strings.HasPrefix(r.Metadata.AgentPath, "/root/") }, repeatText(n)...)
	cfg := Config{Home: b.TempDir(), Model: m, NewID: ids(),
		Limits: Limits{MaxLiveAgents: n + 1, MaxSpawns: n}, MailboxCapacity: n + 16,
		Logger: slog.New(slog.DiscardHandler)}
	if onStore {
		st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Home: cfg.Home})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		cfg.Store = st
	}
	rt, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	root, err := rt.Start(context.Background(), ThreadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	b.StartTimer()
	turn, err := root.Submit(context.Background(), "go")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := turn.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	for {
		done := 0
		infos, _ := rt.Tree(root.ID())
		for _, inf := range infos {
			if inf.Status.Kind == StatusCompleted && !inf.Path.IsRoot() {
				done++
			}
		}
		if done == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	el := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(n)/el.Seconds(), "agents/s")
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n)/1024, "KiB/agent")
	if err := rt.Close(); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
}

func repeatText(n int) []modeltest.Scripted {
	out := make([]modeltest.Scripted, n)
	for i := range out {
		out[i] = modeltest.Text("done")
	}
	return out
}
