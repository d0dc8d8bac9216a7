package mailbox

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseEnvelope: the decoder never panics, classifies every failure,
// and accepts exactly one spelling of each envelope.
func FuzzParseEnvelope(f *testing.F) {
	s := newSealer(f, LocalSealerConfig{Keys: []Key{key("k1", 1)}})
	f.Add(mustSeal(f, s, "hello"))
	f.Add(mustSeal(f, s, ""))
	f.Add("troupe-seal:v1:k1:")
	f.Add("troupe-seal:v2:k1:AAAA")
	f.Add("troupe-seal:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")
	f.Add("gAAAAB-provider")
	f.Fuzz(func(t *testing.T, in string) {
		env, err := parseEnvelope(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("parseEnvelope(%q) = %v, want ErrMalformed or ErrUnsupportedVersion", in, err)
			}
			return
		}
		if got := env.String(); got != in {
			t.Fatalf("parseEnvelope(%q).String() = %q, want the input", in, got)
		}
		if len(env.payload) < gcmNonceSize+gcmTagSize {
			t.Fatalf("parseEnvelope(%q) accepted a %d-byte payload", in, len(env.payload))
		}
	})
}

// FuzzOpen: Open of arbitrary text returns a typed error or, only for a
// genuine envelope, the sealed text.
func FuzzOpen(f *testing.F) {
	s := newSealer(f, LocalSealerConfig{Keys: []Key{key("k1", 1), key("k2", 2)}})
	f.Add(mustSeal(f, s, "task"))
	f.Add("troupe-seal:v1:k2:" + mustSeal(f, s, "x")[len("troupe-seal:v1:k1:"):])
	f.Add("not sealed")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Open(in)
		if err != nil {
			var oe *OpenError
			if !errors.As(err, &oe) || got != "" {
				t.Fatalf("Open(%q) = %q, %v, want \"\" and an *OpenError", in, got, err)
			}
			return
		}
		// Success means the input authenticated: resealing round-trips.
		again, err := s.Open(mustSeal(t, s, got))
		if err != nil || again != got {
			t.Fatalf("round trip of %q = %q, %v", got, again, err)
		}
	})
}

// FuzzPartJSON: a part that decodes re-encodes to a form that decodes to the
// same part.
func FuzzPartJSON(f *testing.F) {
	f.Add(`{"type":"input_text","text":"hi"}`)
	f.Add(`{"type":"encrypted_content","encrypted_content":"x"}`)
	f.Add(`{"type":"input_text"}`)
	f.Add(`{"type":"input_image","image_url":"u"}`)
	f.Fuzz(func(t *testing.T, in string) {
		var p Part
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(%+v) after Unmarshal(%q): %v", p, in, err)
		}
		var back Part
		if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("Unmarshal(%s) = %+v, %v, want %+v", out, back, err, p)
		}
	})
}

// FuzzParseKey: the key decoder never panics, and what it accepts encodes
// back to a form that parses to the same key.
func FuzzParseKey(f *testing.F) {
	k, _ := NewKey("k1")
	text, _ := k.Encode()
	f.Add(text)
	f.Add("k1:" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("k1:+/+/")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseKey(in)
		if err != nil {
			return
		}
		text, err := k.Encode()
		if err != nil {
			t.Fatalf("Encode(ParseKey(%q)): %v", in, err)
		}
		back, err := ParseKey(text)
		if err != nil || back.ID != k.ID || string(back.Secret) != string(k.Secret) {
			t.Fatalf("ParseKey(%q) = %v, %v, want %v", text, back, err, k)
		}
	})
}
