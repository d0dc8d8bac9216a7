package agent_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// Sealed mail stays sealed in the history and the rollout and is opened
// only in the request; content that cannot be opened becomes a note, never
// garbage.
func TestSealedMailOpenedForRequest(t *testing.T) {
	sealer, err := mailbox.NewLocalSealer(mailbox.LocalSealerConfig{Keys: []mailbox.Key{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	m := modeltest.New(t, modeltest.Text("read it"))
	h := start(t, m, func(c *agent.Config) { c.Sealer = sealer })
	good, err := mailbox.SealedContent(sealer, mailbox.KindMessage, "/root/helper", "/root", "the secret plan")
	if err != nil {
		t.Fatal(err)
	}
	bad := []mailbox.Part{mailbox.Text("header"), mailbox.Sealed("troupe-seal-v1:nope:garbage")}
	for _, content := range [][]mailbox.Part{good, bad} {
		if _, err := h.inbox.Send(mailbox.Message{Author: "/root/helper", Content: content}); err != nil {
			t.Fatal(err)
		}
	}
	turn := h.submit("check mail")
	h.wait(turn)
	// Turn 1 answered at once; the mail was recorded at its end. Turn 2's
	// request shows it.
	m.Add(modeltest.Text("ok"))
	turn2 := h.submit("again")
	h.wait(turn2)
	var texts []string
	for _, it := range m.Request(1).Input {
		if it.Type == rollout.ItemAgentMessage {
			texts = append(texts, it.Text())
			for _, p := range it.Content {
				if p.Type == rollout.PartEncryptedContent {
					t.Errorf("request holds sealed content %q", p.EncryptedContent)
				}
			}
		}
	}
	if len(texts) != 2 || !strings.Contains(texts[0], "the secret plan") || !strings.HasPrefix(texts[1], "[The content of this message could not be opened") {
		t.Errorf("request mail texts = %q", texts)
	}
	for _, it := range h.a.History() {
		if it.Type == rollout.ItemAgentMessage && strings.Contains(it.Text(), "the secret plan") {
			t.Error("history holds the opened plaintext")
		}
	}
	warned := false
	for _, ev := range h.events(turn2.ID()) {
		if w, ok := ev.(*agent.Warning); ok && strings.Contains(w.Message, "could not be opened") {
			warned = true
		}
	}
	if !warned {
		t.Error("no Warning for mail that could not be opened")
	}
}

func TestTurnHooks(t *testing.T) {
	var mu sync.Mutex
	var log []string
	m := modeltest.New(t, modeltest.Text("a"), modeltest.Fail(&agent.ModelError{Class: agent.ErrInvalidRequest}))
	h := start(t, m, func(c *agent.Config) {
		c.OnTurnStart = func(id string) { mu.Lock(); log = append(log, "start"); mu.Unlock() }
		c.OnTurnEnd = func(r agent.TurnResult) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				log = append(log, "end error")
				panic("hook panics are recovered")
			}
			log = append(log, "end "+r.LastAgentMessage)
		}
	})
	h.run("one")
	h.run("two")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"start", "end a", "start", "end error"}; !equal(log, want) {
		t.Errorf("hook calls = %v, want %v", log, want)
	}
}
