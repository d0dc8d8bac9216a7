package control

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// blockedChildren has root spawn the children names (fork none); each
// child blocks in wait_agent until mail arrives, then answers "NAME done".
// It returns once root's turn ended and every child is waiting with an
// empty inbox.
func blockedChildren(e *env, names ...string) (*Agent, map[string]*node) {
	e.t.Helper()
	var calls []modeltest.Scripted
	for _, name := range names {
		calls = append(calls, modeltest.CallID("s"+name, "spawn_agent",
			`{"task_name":"`+name+`","message":"task `+name+`","fork_turns":"none"}`))
	}
	e.model.Route(modeltest.ForAgent("/root"), append(calls, modeltest.Text("spawned"))...)
	for _, name := range names {
		e.model.Route(modeltest.ForAgent("/root/"+name),
			modeltest.CallID("w"+name, "wait_agent", `{"timeout_ms":3600000}`),
			modeltest.Text(name+" done"))
	}
	root := e.start()
	e.submit(root, "spawn them")
	kids := map[string]*node{}
	for _, name := range names {
		n := e.waitStatus(root, "/root/"+name, StatusRunning)
		waitFor(e.t, name+" waiting with an empty inbox", func() bool {
			return n.inbox.Len() == 0 && n.inbox.InFlight() == 0 && len(e.requestsOf("/root/"+name)) == 1
		})
		kids[name] = n
	}
	return root, kids
}

// release wakes a blocked child and waits for its turn to complete.
func (e *env) release(root *Agent, n *node) {
	e.t.Helper()
	msg := mailbox.Message{Author: "/root", Recipient: n.path.String(), Content: []mailbox.Part{mailbox.Text("go on")}}
	if err := e.rt.deliver(n, msg); err != nil {
		e.t.Fatalf("deliver(%s) = %v", n.path, err)
	}
	e.waitStatus(root, n.path.String(), StatusCompleted)
}

// finalAnswers lists the senders of the FINAL_ANSWER mail in hist.
func finalAnswers(hist []rollout.ResponseItem) []string {
	var out []string
	for _, it := range hist {
		if it.Type == rollout.ItemAgentMessage && len(it.Content) > 0 &&
			strings.HasPrefix(it.Content[0].Text, "Message Type: FINAL_ANSWER\n") {
			out = append(out, it.Author)
		}
	}
	return out
}

// TestCompletionNoticesSurviveFullInbox: notices to a parent whose inbox
// is full are kept, not dropped: they reach the parent, once each and in
// order, as it acknowledges mail, or after a restart from the journal.
func TestCompletionNoticesSurviveFullInbox(t *testing.T) {
	want := []string{"/root/a", "/root/b", "/root/c"}
	for _, restart := range []bool{false, true} {
		name := "drain"
		if restart {
			name = "restart"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MailboxCapacity = 1 })
			e.model.AllowUnused()
			root, kids := blockedChildren(e, "a", "b", "c")
			for _, k := range []string{"a", "b", "c"} {
				e.release(root, kids[k])
			}
			waitFor(t, "three notices held", func() bool {
				root.n.overflowMu.Lock()
				defer root.n.overflowMu.Unlock()
				return root.n.inbox.Len() == 1 && len(root.n.overflow) == 2
			})
			a := root
			if restart {
				e.restart()
				var err error
				if a, err = e.rt.Resume(context.Background(), root.ID(), ThreadOptions{}); err != nil {
					t.Fatalf("Resume() = %v", err)
				}
			}
			for i := 0; i < 5 && len(finalAnswers(a.History())) < 3; i++ {
				e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("read"))
				e.submit(a, "read your mail")
			}
			if got := finalAnswers(a.History()); !slices.Equal(got, want) {
				t.Errorf("FINAL_ANSWER senders in /root's history = %v, want %v", got, want)
			}
		})
	}
}

// TestCompletionTriggersTurn: with Config.CompletionTriggersTurn an idle
// parent starts a turn when a child's notice arrives.
func TestCompletionTriggersTurn(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CompletionTriggersTurn = true })
	root, kids := blockedChildren(e, "a")
	e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("noted"))
	e.release(root, kids["a"])
	waitFor(t, "/root's triggered turn", func() bool {
		st := root.Status()
		return st.Kind == StatusCompleted && st.Message == "noted"
	})
	if got := finalAnswers(root.History()); !slices.Equal(got, []string{"/root/a"}) {
		t.Errorf("FINAL_ANSWER senders = %v, want [/root/a]", got)
	}
}

func TestTruncateMiddleTokens(t *testing.T) {
	for _, tt := range []struct {
		s    string
		max  int
		want string
	}{
		{"", 2, ""},
		{"12345678", 2, "12345678"},
		{"123456789abc", 2, "1234…1 tokens truncated…9abc"},
		{"0123456789abcdefghij", 2, "0123…3 tokens truncated…ghij"},
		// Runes are never split: é is 2 bytes.
		{"aaaéébbbbbbbbbbbbbbb", 2, "aaa…4 tokens truncated…bbbb"},
	} {
		if got := truncateMiddleTokens(tt.s, tt.max); got != tt.want {
			t.Errorf("truncateMiddleTokens(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
	long := strings.Repeat("x", 10000)
	if got := truncateMiddleTokens(long, completionErrorMaxTokens); len(got) > 3700 || !strings.Contains(got, "…1600 tokens truncated…") {
		t.Errorf("truncateMiddleTokens(10000 bytes, 900) = %d bytes, %.60q…", len(got), got)
	}
}
