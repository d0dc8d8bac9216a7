package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// journal is a tree's mail journal: HOME/mail/<session id>.jsonl, one JSON
// record a line. A message is journaled before its inbox accepts it (op
// "send"); the recipient's acknowledgement (the message is recorded in its
// rollout) is journaled as "ack"; a send the inbox refused as "drop". Resume
// replays the journal: every sent message that is neither acknowledged nor
// dropped is redelivered, in journal order.
//
// Each record is written with one write(2): a process crash loses nothing
// written; the file is fsynced on Sync (at Close) so a machine crash may
// lose the most recent records, in which case a message may be redelivered
// (never lost once its recipient recorded it).
type journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	buf  []byte
}

type journalRecord struct {
	Op  string           `json:"op"`
	Msg *mailbox.Message `json:"msg,omitempty"`
	// Recipient and ID name the message of an ack or drop.
	Recipient string `json:"recipient,omitempty"`
	ID        string `json:"id,omitempty"`
}

func journalPath(home string, session rollout.ThreadID) string {
	return filepath.Join(home, "mail", string(session)+".jsonl")
}

// openJournal opens (creating) a tree's journal for appending.
func openJournal(home string, session rollout.ThreadID) (*journal, error) {
	p := journalPath(home, session)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("control: mail journal: %w", err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("control: mail journal: %w", err)
	}
	return &journal{path: p, f: f}, nil
}

func (j *journal) write(rec journalRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("control: mail journal %s: closed", j.path)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("control: mail journal: %w", err)
	}
	j.buf = append(append(j.buf[:0], b...), '\n')
	if _, err := j.f.Write(j.buf); err != nil {
		return fmt.Errorf("control: mail journal: %w", err)
	}
	return nil
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}

// pendingMail replays a journal and returns, per recipient path, the
// messages sent and not acknowledged or dropped, in journal order. A
// missing journal has no mail. A torn or malformed line is skipped (it was
// being written when the process stopped; its message was never accepted).
func pendingMail(home string, session rollout.ThreadID) (map[string][]mailbox.Message, error) {
	f, err := os.Open(journalPath(home, session))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("control: mail journal: %w", err)
	}
	defer f.Close()
	type entry struct {
		msg  mailbox.Message
		gone bool
	}
	var order []*entry
	byID := map[string]*entry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var rec journalRecord
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		switch rec.Op {
		case "send":
			if rec.Msg == nil {
				continue
			}
			e := &entry{msg: *rec.Msg}
			order = append(order, e)
			byID[rec.Msg.Recipient+"\x00"+rec.Msg.ID] = e
		case "ack", "drop":
			if e := byID[rec.Recipient+"\x00"+rec.ID]; e != nil {
				e.gone = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("control: mail journal: %w", err)
	}
	out := map[string][]mailbox.Message{}
	for _, e := range order {
		if !e.gone {
			out[e.msg.Recipient] = append(out[e.msg.Recipient], e.msg)
		}
	}
	return out, nil
}

// rewriteJournal replaces the journal with the send records of pending
// (compaction at resume), by temp file + fsync + rename.
func rewriteJournal(home string, session rollout.ThreadID, pending map[string][]mailbox.Message, order []string) error {
	p := journalPath(home, session)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range order {
		for i := range pending[r] {
			b, err := json.Marshal(journalRecord{Op: "send", Msg: &pending[r][i]})
			if err != nil {
				f.Close()
				return err
			}
			w.Write(b)
			w.WriteByte('\n')
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// journaledInbox is the inbox an agent consumes: a mailbox.Inbox whose
// acknowledgements are journaled, so a restart redelivers exactly what was
// not recorded.
type journaledInbox struct {
	*mailbox.Inbox
	j *journal
	n *node // its overflow is drained as acknowledgements make room
}

// Ack implements agent.Inbox.
func (ib journaledInbox) Ack(msgs ...mailbox.Message) error {
	if err := ib.Inbox.Ack(msgs...); err != nil {
		return err
	}
	if len(msgs) > 0 {
		ib.n.drainOverflow()
	}
	var first error
	for _, m := range msgs {
		if err := ib.j.write(journalRecord{Op: "ack", Recipient: m.Recipient, ID: m.ID}); err != nil && first == nil {
			first = err
		}
	}
	return first
}
