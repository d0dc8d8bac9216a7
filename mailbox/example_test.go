package mailbox_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/troupe-run/troupe/mailbox"
)

func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("amsg_%d", n) }
}

func clock() time.Time { return time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC) }

// An agent's turn takes its mail, records each message, and acknowledges it
// once it is durably in the rollout.
func ExampleInbox() {
	inbox, err := mailbox.New(mailbox.Config{Owner: "/root/worker", NewID: counter(), Now: clock})
	if err != nil {
		panic(err)
	}
	defer inbox.Close()

	task := mailbox.PlainContent(mailbox.KindNewTask, "/root", "/root/worker", "compute 2+2")
	if _, err := inbox.Send(mailbox.Message{Author: "/root", Content: task, TriggerTurn: true}); err != nil {
		panic(err)
	}
	fmt.Println("start a turn:", inbox.HasTrigger())

	for _, m := range inbox.Take() {
		text, _ := mailbox.PlainText(m.Content)
		fmt.Printf("%s from %s seq %d:\n%s\n", m.ID, m.Author, m.Seq, text)
		// ... append to the rollout, flush, then:
		if err := inbox.Ack(m); err != nil {
			panic(err)
		}
	}
	fmt.Println("held:", len(inbox.Unacked()))
	// Output:
	// start a turn: true
	// amsg_1 from /root seq 1:
	// Message Type: NEW_TASK
	// Task name: /root/worker
	// Sender: /root
	// Payload:
	// compute 2+2
	// held: 0
}

// A sleeping agent wakes as soon as mail arrives.
func ExampleInbox_Wait() {
	inbox, _ := mailbox.New(mailbox.Config{Owner: "/root", NewID: counter(), Now: clock})
	defer inbox.Close()

	woke := make(chan error)
	go func() { woke <- inbox.Wait(context.Background()) }()

	notice := mailbox.PlainContent(mailbox.KindFinalAnswer, "/root/worker", "/root", "2+2=4")
	inbox.Send(mailbox.Message{Author: "/root/worker", Content: notice})
	fmt.Println("woke:", <-woke, "waiting:", inbox.Len())
	// Output:
	// woke: <nil> waiting: 1
}

// A full inbox refuses mail with ErrFull; the sender decides what to do.
func ExampleInbox_Send_full() {
	inbox, _ := mailbox.New(mailbox.Config{Owner: "/root/w", Capacity: 1, NewID: counter(), Now: clock})
	defer inbox.Close()
	m := mailbox.Message{Author: "/root", Content: []mailbox.Part{mailbox.Text("hi")}}
	inbox.Send(m)
	_, err := inbox.Send(m)
	fmt.Println(err)
	// Output:
	// send /root -> /root/w: mailbox: full (capacity 1)
}

// The local sealer keeps task text sealed in storage and opens it only for
// the recipient's model request.
func ExampleLocalSealer() {
	sealer, err := mailbox.NewLocalSealer(mailbox.LocalSealerConfig{
		Keys: []mailbox.Key{{ID: "2026-11", Secret: bytes.Repeat([]byte{7}, 32)}},
	})
	if err != nil {
		panic(err)
	}
	content, err := mailbox.SealedContent(sealer, mailbox.KindMessage, "/root", "/root/worker", "the secret plan")
	if err != nil {
		panic(err)
	}
	fmt.Println("stored:", strings.HasPrefix(content[1].EncryptedContent, "troupe-seal:v1:2026-11:"))

	request, err := mailbox.OpenForRequest(sealer, content)
	if err != nil {
		panic(err)
	}
	fmt.Printf("request: %q\n", request[1].Text)
	fmt.Println("still sealed:", content[1].Type)
	// Output:
	// stored: true
	// request: "the secret plan"
	// still sealed: encrypted_content
}

// With provider-side encryption the ciphertext is forwarded untouched.
func ExamplePassthrough() {
	content, _ := mailbox.SealedContent(mailbox.Passthrough{}, mailbox.KindNewTask, "/root", "/root/w", "gAAAAB-opaque")
	request, _ := mailbox.OpenForRequest(mailbox.Passthrough{}, content)
	fmt.Println(request[1].Type, request[1].EncryptedContent)
	// Output:
	// encrypted_content gAAAAB-opaque
}
