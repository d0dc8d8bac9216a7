package mailboxtest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/mailbox/mailboxtest"
)

func TestSealerAndTamper(t *testing.T) {
	s := mailboxtest.Sealer(t)
	env, err := s.Seal("task")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(env); err != nil || got != "task" {
		t.Fatalf("Open(Seal(task)) = %q, %v", got, err)
	}
	bad := mailboxtest.Tamper(t, env)
	if bad == env {
		t.Fatal("Tamper returned the envelope unchanged")
	}
	if got, err := s.Open(bad); !errors.Is(err, mailbox.ErrAuth) || got != "" {
		t.Errorf("Open(Tamper(env)) = %q, %v, want ErrAuth", got, err)
	}
	content := []mailbox.Part{mailbox.Text("h"), mailbox.Sealed(bad)}
	if _, err := mailbox.OpenForRequest(s, content); !errors.Is(err, mailbox.ErrAuth) {
		t.Errorf("OpenForRequest(tampered) = %v, want ErrAuth", err)
	}
}

func TestDrain(t *testing.T) {
	ib, err := mailbox.New(mailbox.Config{Owner: "/root"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mailboxtest.Drain(t, ib); got != nil {
		t.Errorf("Drain(empty) = %v, want nil", got)
	}
	for i := range 3 {
		if _, err := ib.Send(mailbox.Message{Author: "/root/w", Content: []mailbox.Part{mailbox.Text(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	got := mailboxtest.Drain(t, ib)
	if len(got) != 3 || got[2].Content[0].Text != "2" {
		t.Errorf("Drain = %+v, want the 3 messages in order", got)
	}
	if n := len(ib.Unacked()); n != 0 {
		t.Errorf("Unacked after Drain = %d, want 0", n)
	}
}
