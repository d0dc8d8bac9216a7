package agent_test

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
)

func TestSleepCompletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := modeltest.New(t, modeltest.CallID("s1", "sleep", `{"duration_ms":150}`), modeltest.Text("done"))
		h := start(t, m, paginated)
		turn := h.submit("nap")
		h.wait(turn)
		out, _ := modeltest.Output(m.Request(1), "s1")
		if want := "Wall time: 0.1500 seconds\nSleep completed."; out != want {
			t.Errorf("sleep output = %q, want %q", out, want)
		}
		var started, completed *agent.Sleep
		for _, ev := range h.events(turn.ID()) {
			switch e := ev.(type) {
			case *agent.ItemStarted:
				if s, ok := e.Item.(*agent.Sleep); ok {
					started = s
				}
			case *agent.ItemCompleted:
				if s, ok := e.Item.(*agent.Sleep); ok {
					completed = s
					if e.CompletedAtMs-e.StartedAtMs != 150 {
						t.Errorf("sleep item times %d..%d, want 150 ms apart", e.StartedAtMs, e.CompletedAtMs)
					}
				}
			}
		}
		if started == nil || completed == nil || started.ID != "s1" || completed.ID != "s1" ||
			completed.RequestedMs != 150 || completed.ElapsedMs != 150 || completed.Woke != agent.WokeCompleted {
			t.Errorf("sleep items started %+v completed %+v", started, completed)
		}
		// Persisted like Codex: item_completed with the Extension item, before
		// the call's output.
		lines := h.rec.lines()
		idx := map[string]int{}
		for i, l := range lines {
			if _, ok := idx[l]; !ok {
				idx[l] = i
			}
		}
		ic, ok1 := idx["event_msg/item_completed/Extension:clock.sleep"]
		fo, ok2 := idx["response_item/function_call_output"]
		if !ok1 || !ok2 || ic > fo {
			t.Errorf("rollout = %v, want the sleep item_completed before the output", lines)
		}
	})
}

// Scenario 6: sleep 60000 wakes at once when mail arrives; bad durations get
// error outputs.
func TestSleepWakesOnMail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := modeltest.New(t,
			modeltest.CallID("s1", "sleep", `{"duration_ms":60000}`),
			modeltest.Text("got mail"))
		h := start(t, m)
		turn := h.submit("wait for mail")
		for {
			if s, ok := (<-h.sub.C()).(*agent.ItemStarted); ok {
				if _, ok := s.Item.(*agent.Sleep); ok {
					break
				}
			}
		}
		h.mail("wake up", false)
		h.wait(turn)
		req := m.Request(1)
		out, _ := modeltest.Output(req, "s1")
		if want := "Wall time: 0.0000 seconds\nSleep interrupted by new input."; out != want {
			t.Errorf("sleep output = %q, want %q", out, want)
		}
		want := []string{"message/user", "function_call sleep", "function_call_output", "agent_message"}
		if got := modeltest.Kinds(req); !equal(got, want) {
			t.Errorf("request 2 = %v, want %v", got, want)
		}
	})
}

func TestSleepWakesOnSteer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := modeltest.New(t,
			modeltest.CallID("s1", "sleep", `{"duration_ms":60000}`),
			modeltest.Text("ok"))
		h := start(t, m)
		turn := h.submit("first")
		for {
			if s, ok := (<-h.sub.C()).(*agent.ItemStarted); ok {
				if _, ok := s.Item.(*agent.Sleep); ok {
					break
				}
			}
		}
		h.submit("second")
		h.wait(turn)
		out, _ := modeltest.Output(m.Request(1), "s1")
		if !strings.HasSuffix(out, "Sleep interrupted by new input.") {
			t.Errorf("sleep output = %q, want interrupted by new input", out)
		}
		if got := modeltest.UserTexts(m.Request(1)); !equal(got, []string{"first", "second"}) {
			t.Errorf("request 2 user texts = %v", got)
		}
	})
}

func TestSleepBadDuration(t *testing.T) {
	m := modeltest.New(t,
		modeltest.Respond(
			modeltest.CallID("zero", "sleep", `{"duration_ms":0}`),
			modeltest.CallID("str", "sleep", `{"duration_ms":"60000"}`),
			modeltest.CallID("big", "sleep", `{"duration_ms":3600001}`),
			modeltest.CallID("none", "sleep", `{}`)),
		modeltest.Text("ok"))
	h := start(t, m)
	h.run("go")
	req := m.Request(1)
	for id, want := range map[string]string{
		"zero": "invalid arguments: duration_ms: 0 is less than the minimum 1",
		"str":  "invalid arguments: duration_ms: got string, want integer",
		"big":  "invalid arguments: duration_ms: 3600001 is greater than the maximum 3600000",
		"none": `invalid arguments: missing required property "duration_ms"`,
	} {
		if got, _ := modeltest.Output(req, id); got != want {
			t.Errorf("output of %s = %q, want %q", id, got, want)
		}
	}
}

// An interrupted sleep completes its item and gets the aborted output.
func TestSleepInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := modeltest.New(t, modeltest.CallID("s1", "sleep", `{"duration_ms":60000}`), modeltest.Text("next"))
		h := start(t, m)
		turn := h.submit("sleep")
		for {
			if s, ok := (<-h.sub.C()).(*agent.ItemStarted); ok {
				if _, ok := s.Item.(*agent.Sleep); ok {
					break
				}
			}
		}
		if _, err := h.a.Interrupt(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if res := h.wait(turn); res.Aborted != agent.AbortInterrupted {
			t.Fatalf("result = %+v", res)
		}
		h.run("again")
		if out, _ := modeltest.Output(m.Request(1), "s1"); out != "aborted by user after 0.0s" {
			t.Errorf("output = %q, want aborted by user after 0.0s", out)
		}
	})
}
