package mailboxtest

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/mailbox"
)

// KeyID is the key id of the sealer returned by Sealer.
const KeyID = "test"

// Key returns the fixed, public test key under id.
func Key(id string) mailbox.Key {
	return mailbox.Key{ID: id, Secret: bytes.Repeat([]byte{0x5e}, 32)}
}

// Sealer returns a LocalSealer with the test key KeyID. It fails tb if the
// sealer cannot be built.
func Sealer(tb testing.TB) *mailbox.LocalSealer {
	tb.Helper()
	s, err := mailbox.NewLocalSealer(mailbox.LocalSealerConfig{Keys: []mailbox.Key{Key(KeyID)}})
	if err != nil {
		tb.Fatalf("mailboxtest: NewLocalSealer: %v", err)
	}
	return s
}

// Tamper returns envelope with one bit of its ciphertext flipped, keeping the
// envelope well formed, so opening it fails with mailbox.ErrAuth. It fails tb
// if envelope is not a troupe seal envelope.
func Tamper(tb testing.TB, envelope string) string {
	tb.Helper()
	i := strings.LastIndexByte(envelope, ':')
	if !strings.HasPrefix(envelope, "troupe-seal:") || i < 0 {
		tb.Fatalf("mailboxtest: Tamper(%.40q): not a troupe seal envelope", envelope)
	}
	payload, err := base64.RawURLEncoding.DecodeString(envelope[i+1:])
	if err != nil || len(payload) == 0 {
		tb.Fatalf("mailboxtest: Tamper(%.40q): payload: %v", envelope, err)
	}
	payload[len(payload)/2] ^= 0x01
	return envelope[:i+1] + base64.RawURLEncoding.EncodeToString(payload)
}

// Drain takes every waiting message of ib, acknowledges them and returns
// them in delivery order (nil when none wait). It fails tb if Ack fails.
func Drain(tb testing.TB, ib *mailbox.Inbox) []mailbox.Message {
	tb.Helper()
	msgs := ib.Take()
	if err := ib.Ack(msgs...); err != nil {
		tb.Fatalf("mailboxtest: Drain: %v", err)
	}
	return msgs
}
