package mailbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, 32)} }

func newSealer(t testing.TB, cfg LocalSealerConfig) *LocalSealer {
	t.Helper()
	s, err := NewLocalSealer(cfg)
	if err != nil {
		t.Fatalf("NewLocalSealer: %v", err)
	}
	return s
}

func mustSeal(t testing.TB, s Sealer, text string) string {
	t.Helper()
	sealed, err := s.Seal(text)
	if err != nil {
		t.Fatalf("Seal(%q): %v", text, err)
	}
	return sealed
}

func TestNewLocalSealerConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  LocalSealerConfig
	}{
		{"no keys", LocalSealerConfig{}},
		{"short key", LocalSealerConfig{Keys: []Key{{ID: "k1", Secret: make([]byte, 16)}}}},
		{"empty id", LocalSealerConfig{Keys: []Key{key("", 1)}}},
		{"colon in id", LocalSealerConfig{Keys: []Key{key("k:1", 1)}}},
		{"long id", LocalSealerConfig{Keys: []Key{key(strings.Repeat("k", 65), 1)}}},
		{"duplicate id", LocalSealerConfig{Keys: []Key{key("k1", 1), key("k1", 2)}}},
		{"unknown active", LocalSealerConfig{Keys: []Key{key("k1", 1)}, Active: "k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewLocalSealer(tt.cfg); err == nil {
				t.Errorf("NewLocalSealer(%s) = nil error, want an error", tt.name)
			}
		})
	}
	s := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1), key("k2", 2)}})
	if s.ActiveKey() != "k1" {
		t.Errorf("ActiveKey() = %q, want the first key k1", s.ActiveKey())
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1)}})
	for _, text := range []string{"", "compute 2+2", "ünïcødé ✓\n\t\"quotes\"", strings.Repeat("long ", 10000), "\xff\xfe not utf-8"} {
		sealed := mustSeal(t, s, text)
		if !strings.HasPrefix(sealed, "troupe-seal:v1:k1:") {
			t.Errorf("Seal(%.20q) = %.40q, want prefix troupe-seal:v1:k1:", text, sealed)
		}
		if strings.Contains(sealed, text) && text != "" {
			t.Errorf("Seal(%.20q) contains the plaintext", text)
		}
		// Text-safe: printable ASCII only, unchanged by JSON.
		for i := 0; i < len(sealed); i++ {
			if sealed[i] < 0x21 || sealed[i] > 0x7e || sealed[i] == '"' || sealed[i] == '\\' {
				t.Fatalf("Seal output has byte %q at %d, want JSON-safe printable ASCII", sealed[i], i)
			}
		}
		got, err := s.Open(sealed)
		if err != nil || got != text {
			t.Errorf("Open(Seal(%.20q)) = %.20q, %v, want the plaintext", text, got, err)
		}
	}
	a, b := mustSeal(t, s, "same"), mustSeal(t, s, "same")
	if a == b {
		t.Error("two Seals of the same text are equal, want fresh nonces")
	}
}

// rewrite decodes the payload of env, lets f change it, and re-encodes.
func rewrite(t *testing.T, env string, f func([]byte) []byte) string {
	t.Helper()
	i := strings.LastIndexByte(env, ':')
	payload, err := base64.RawURLEncoding.DecodeString(env[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return env[:i+1] + base64.RawURLEncoding.EncodeToString(f(payload))
}

func TestOpenErrors(t *testing.T) {
	k1 := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1)}})
	other := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 9)}}) // same id, other key
	env := mustSeal(t, k1, "secret task")

	tests := []struct {
		name    string
		sealer  *LocalSealer
		in      string
		want    error
		wantKey string
	}{
		{"flip a ciphertext byte", k1, rewrite(t, env, func(p []byte) []byte { p[len(p)/2] ^= 1; return p }), ErrAuth, "k1"},
		{"flip a nonce byte", k1, rewrite(t, env, func(p []byte) []byte { p[0] ^= 0x80; return p }), ErrAuth, "k1"},
		{"flip a tag byte", k1, rewrite(t, env, func(p []byte) []byte { p[len(p)-1] ^= 1; return p }), ErrAuth, "k1"},
		{"drop last byte", k1, rewrite(t, env, func(p []byte) []byte { return p[:len(p)-1] }), ErrAuth, "k1"},
		{"truncated below nonce+tag", k1, rewrite(t, env, func(p []byte) []byte { return p[:20] }), ErrMalformed, "k1"},
		{"truncated to header", k1, "troupe-seal:v1:k1:", ErrMalformed, "k1"},
		{"truncated in header", k1, "troupe-seal:v1:k1", ErrMalformed, ""},
		{"truncated prefix", k1, "troupe-seal:", ErrMalformed, ""},
		{"bad base64 char", k1, env[:len(env)-3] + "*" + env[len(env)-2:], ErrMalformed, "k1"},
		{"padding", k1, env + "=", ErrMalformed, "k1"},
		{"newline in payload", k1, env[:len(env)-2] + "\n" + env[len(env)-2:], ErrMalformed, "k1"},
		{"wrong key", other, env, ErrAuth, "k1"},
		{"unknown key id", k1, strings.Replace(env, ":k1:", ":k2:", 1), ErrUnknownKey, "k2"},
		{"unsupported version", k1, strings.Replace(env, ":v1:", ":v2:", 1), ErrUnsupportedVersion, ""},
		{"garbage version", k1, strings.Replace(env, ":v1:", ":x:", 1), ErrMalformed, ""},
		{"not an envelope", k1, "plain provider text", ErrMalformed, ""},
		{"empty", k1, "", ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.in)
			var oe *OpenError
			if !errors.As(err, &oe) || !errors.Is(err, tt.want) {
				t.Fatalf("Open(%.50q) = %q, %v, want *OpenError wrapping %v", tt.in, got, err, tt.want)
			}
			if got != "" {
				t.Errorf("Open returned text %q with an error", got)
			}
			if oe.KeyID != tt.wantKey {
				t.Errorf("OpenError.KeyID = %q, want %q", oe.KeyID, tt.wantKey)
			}
		})
	}
}

// TestHeaderIsAuthenticated: relabelling an envelope to another configured
// key fails authentication rather than decrypting.
func TestHeaderIsAuthenticated(t *testing.T) {
	s := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1), key("k2", 1)}}) // same bytes, two ids
	env := mustSeal(t, s, "x")
	if _, err := s.Open(strings.Replace(env, ":k1:", ":k2:", 1)); !errors.Is(err, ErrAuth) {
		t.Errorf("Open(relabelled envelope) = %v, want ErrAuth", err)
	}
}

func TestKeyRotation(t *testing.T) {
	old := newSealer(t, LocalSealerConfig{Keys: []Key{key("2026-01", 1)}})
	rotated := newSealer(t, LocalSealerConfig{Keys: []Key{key("2026-01", 1), key("2026-06", 2)}, Active: "2026-06"})
	before := mustSeal(t, old, "sealed before rotation")
	after := mustSeal(t, rotated, "sealed after rotation")
	if !strings.HasPrefix(after, "troupe-seal:v1:2026-06:") {
		t.Errorf("Seal after rotation = %.30q, want the new key id", after)
	}
	if got, err := rotated.Open(before); err != nil || got != "sealed before rotation" {
		t.Errorf("rotated.Open(old envelope) = %q, %v", got, err)
	}
	if got, err := rotated.Open(after); err != nil || got != "sealed after rotation" {
		t.Errorf("rotated.Open(new envelope) = %q, %v", got, err)
	}
	if _, err := old.Open(after); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old.Open(new envelope) = %v, want ErrUnknownKey", err)
	}
	retired := newSealer(t, LocalSealerConfig{Keys: []Key{key("2026-06", 2)}})
	if _, err := retired.Open(before); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open with the old key retired = %v, want ErrUnknownKey", err)
	}
}

func TestForwardForeign(t *testing.T) {
	s := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1)}, ForwardForeign: true})
	if _, err := s.Open("gAAAAprovider-ciphertext"); !errors.Is(err, ErrProviderSealed) {
		t.Errorf("Open(foreign) with ForwardForeign = %v, want ErrProviderSealed", err)
	}
	// A damaged troupe envelope is still an error, never forwarded.
	if _, err := s.Open("troupe-seal:v1:k1:AAAA"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Open(damaged envelope) with ForwardForeign = %v, want ErrMalformed", err)
	}
}

func TestPassthroughKeepsCiphertext(t *testing.T) {
	const ct = "gAAAAABn\x00opaque+/=\"ciphertext\"\n✓"
	content, err := SealedContent(Passthrough{}, KindNewTask, "/root", "/root/worker", ct)
	if err != nil {
		t.Fatal(err)
	}
	if content[1] != Sealed(ct) {
		t.Fatalf("SealedContent(Passthrough) part = %+v, want the ciphertext verbatim", content[1])
	}
	opened, err := OpenForRequest(Passthrough{}, content)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(opened, content) {
		t.Errorf("OpenForRequest(Passthrough) = %+v, want the content unchanged", opened)
	}
	// A nil sealer is Passthrough.
	if got, err := SealedContent(nil, KindNewTask, "/root", "/root/worker", ct); err != nil || !reflect.DeepEqual(got, content) {
		t.Errorf("SealedContent(nil) = %+v, %v, want %+v", got, err, content)
	}
	if got, err := OpenForRequest(nil, content); err != nil || !reflect.DeepEqual(got, content) {
		t.Errorf("OpenForRequest(nil) = %+v, %v, want the content unchanged", got, err)
	}
	// Byte-identical through JSON too.
	data, err := json.Marshal(opened)
	if err != nil {
		t.Fatal(err)
	}
	var back []Part
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back[1].EncryptedContent != ct {
		t.Errorf("ciphertext after JSON = %q, want %q", back[1].EncryptedContent, ct)
	}
}

func TestOpenForRequest(t *testing.T) {
	s := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1)}})
	content, err := SealedContent(s, KindMessage, "/root", "/root/worker", "FYI: thanks")
	if err != nil {
		t.Fatal(err)
	}
	stored := append([]Part(nil), content...)
	opened, err := OpenForRequest(s, content)
	if err != nil {
		t.Fatal(err)
	}
	want := []Part{Text("Message Type: MESSAGE\nTask name: /root/worker\nSender: /root\nPayload:\n"), Text("FYI: thanks")}
	if !reflect.DeepEqual(opened, want) {
		t.Errorf("OpenForRequest = %+v, want %+v", opened, want)
	}
	if !reflect.DeepEqual(content, stored) || content[1].Type != PartSealed {
		t.Errorf("OpenForRequest changed the stored content: %+v", content)
	}
	if _, ok := PlainText(content); ok {
		t.Error("PlainText(sealed content) ok = true, want false")
	}

	// A tampered part fails the whole request, naming the part.
	content[1].EncryptedContent = strings.Replace(content[1].EncryptedContent, ":k1:", ":k9:", 1)
	got, err := OpenForRequest(s, content)
	if !errors.Is(err, ErrUnknownKey) || got != nil || !strings.Contains(err.Error(), "content part 1") {
		t.Errorf("OpenForRequest(tampered) = %v, %v, want nil and an error naming part 1 wrapping ErrUnknownKey", got, err)
	}
}

func TestLocalSealerConcurrent(t *testing.T) {
	s := newSealer(t, LocalSealerConfig{Keys: []Key{key("k1", 1)}})
	done := make(chan error)
	for i := range 8 {
		go func() {
			text := strings.Repeat(string(rune('a'+i)), i+1)
			for range 100 {
				got, err := s.Open(mustSealNoT(s, text))
				if err != nil || got != text {
					done <- errors.New("concurrent round trip failed")
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func mustSealNoT(s Sealer, text string) string {
	sealed, _ := s.Seal(text)
	return sealed
}

func TestKeyText(t *testing.T) {
	k, err := NewKey("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey("2026-11")
	if bytes.Equal(k.Secret, other.Secret) {
		t.Fatal("two NewKey secrets are equal")
	}
	text, err := k.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKey(text)
	if err != nil || back.ID != k.ID || !bytes.Equal(back.Secret, k.Secret) {
		t.Fatalf("ParseKey(Encode) = %v, %v, want %v", back, err, k)
	}
	std := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n"
	if got, err := ParseKey(std); err != nil || got.Secret[0] != 0xfb {
		t.Errorf("ParseKey(standard base64 with padding) = %v, %v", got, err)
	}
	// A key in a JSON config file.
	var cfg struct{ Keys []Key }
	if err := json.Unmarshal([]byte(`{"Keys":["`+text+`"]}`), &cfg); err != nil || len(cfg.Keys) != 1 {
		t.Fatalf("Unmarshal(config) = %v, %v", cfg, err)
	}
	if _, err := NewLocalSealer(LocalSealerConfig{Keys: cfg.Keys}); err != nil {
		t.Errorf("NewLocalSealer(parsed keys) = %v", err)
	}

	secret := base64.RawURLEncoding.EncodeToString(k.Secret)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, k); strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint(k.Secret[:4])[1:6]) {
			t.Errorf("Sprintf(%s, key) = %q shows the secret", f, out)
		}
	}
	bad := []string{"", "k1", ":AAAA", "k 1:" + secret, "k1:not base64!", "k1:" + secret[:20], "k1:" + secret + "AAAA"}
	for _, in := range bad {
		_, err := ParseKey(in)
		if err == nil {
			t.Errorf("ParseKey(%q) = nil error, want an error", in)
		} else if strings.Contains(err.Error(), secret[:10]) {
			t.Errorf("ParseKey error %q shows the secret", err)
		}
	}
	if _, err := NewKey("bad id"); err == nil {
		t.Error("NewKey(bad id) = nil error")
	}
	if _, err := (Key{ID: "k", Secret: []byte{1}}).Encode(); err == nil {
		t.Error("Encode(short secret) = nil error")
	}
}
