package mailbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Sealer seals message text for storage and transport and opens it when the
// recipient's model request is built. Implementations must be safe for
// concurrent use.
type Sealer interface {
	// Seal returns the sealed form of plaintext, safe to store as a JSON
	// string (the encrypted_content of a part).
	Seal(plaintext string) (string, error)
	// Open returns the plaintext of sealed. It returns ErrProviderSealed
	// for content only the model provider can open (it must be forwarded
	// as is), and an error (never garbage text) when sealed is damaged or
	// needs a key the sealer lacks.
	Open(sealed string) (string, error)
}

var (
	_ Sealer = Passthrough{}
	_ Sealer = (*LocalSealer)(nil)
)

var (
	// ErrProviderSealed is returned by Open for content the model provider
	// sealed; OpenForRequest keeps such parts sealed.
	ErrProviderSealed = errors.New("mailbox: sealed by the provider")
	// ErrMalformed is wrapped when a seal envelope cannot be parsed:
	// wrong prefix or shape, bad base64, or a payload too short to hold a
	// nonce and tag (truncation).
	ErrMalformed = errors.New("mailbox: malformed seal envelope")
	// ErrUnsupportedVersion is wrapped when the envelope names a version
	// this package does not know.
	ErrUnsupportedVersion = errors.New("mailbox: unsupported seal version")
	// ErrUnknownKey is wrapped when the envelope names a key id the sealer
	// is not configured with.
	ErrUnknownKey = errors.New("mailbox: unknown seal key")
	// ErrAuth is wrapped when authentication fails: the ciphertext was
	// changed or truncated, or the key under that id is not the one that
	// sealed it. AES-GCM cannot tell these apart.
	ErrAuth = errors.New("mailbox: sealed content failed authentication (tampered or wrong key)")
)

// OpenError reports content that could not be opened, shaped like
// fs.PathError. KeyID is empty when the envelope could not be parsed far
// enough to name one.
type OpenError struct {
	KeyID string
	Err   error
}

func (e *OpenError) Error() string {
	if e.KeyID == "" {
		return "open sealed content: " + e.Err.Error()
	}
	return "open sealed content (key " + e.KeyID + "): " + e.Err.Error()
}

func (e *OpenError) Unwrap() error { return e.Err }

// Passthrough is the sealer of providers that encrypt tool arguments
// themselves (the Responses API's encrypted parameters): Seal keeps the
// provider's ciphertext byte for byte and Open always reports
// ErrProviderSealed, so the ciphertext reaches the recipient's model request
// untouched and the provider opens it.
type Passthrough struct{}

// Seal returns s unchanged.
func (Passthrough) Seal(s string) (string, error) { return s, nil }

// Open returns ErrProviderSealed.
func (Passthrough) Open(string) (string, error) { return "", ErrProviderSealed }

// Envelope format of LocalSealer:
//
//	troupe-seal:v1:<key id>:<base64url, no padding, of nonce || ciphertext || tag>
//
// The prefix "troupe-seal:v1:<key id>:" is the AEAD's additional data, so the
// version and key id are authenticated too.
const (
	envelopePrefix  = "troupe-seal:"
	envelopeVersion = "v1"
	gcmNonceSize    = 12
	gcmTagSize      = 16
	maxKeyIDLen     = 64
	keySize         = 32 // AES-256
)

// Key is one AES-256 key of a LocalSealer. String and GoString hide the
// secret, but the struct itself holds it in the clear: never log or marshal
// a Key.
type Key struct {
	// ID names the key in envelopes: 1 to 64 characters among letters,
	// digits, '.', '_' and '-'. It is not secret.
	ID string
	// Secret is the 32-byte key. NewLocalSealer copies what it needs.
	Secret []byte
}

// String returns the key id only, so a Key printed in a log or error never
// shows its secret.
func (k Key) String() string { return "mailbox.Key{ID: " + k.ID + "}" }

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }

// NewKey returns a fresh random key named id, for configuration tools.
func NewKey(id string) (Key, error) {
	if !validKeyID(id) {
		return Key{}, fmt.Errorf("mailbox: new key: invalid key id %q (1 to %d of A-Z a-z 0-9 . _ -)", id, maxKeyIDLen)
	}
	secret := make([]byte, keySize)
	_, _ = rand.Read(secret) // never fails (crypto/rand since Go 1.24)
	return Key{ID: id, Secret: secret}, nil
}

// Encode returns the key's configuration form "<id>:<base64url of the
// 32-byte secret>", which ParseKey reads. It reveals the secret: use it only
// to write key files or environment variables.
func (k Key) Encode() (string, error) {
	if !validKeyID(k.ID) || len(k.Secret) != keySize {
		return "", fmt.Errorf("mailbox: encode key %q: want a valid id and a %d-byte secret", k.ID, keySize)
	}
	return k.ID + ":" + base64.RawURLEncoding.EncodeToString(k.Secret), nil
}

// ParseKey reads the configuration form written by Encode. The secret
// may be in base64url or standard base64, with or without padding.
func ParseKey(s string) (Key, error) {
	var k Key
	err := k.UnmarshalText([]byte(s))
	return k, err
}

// UnmarshalText reads the configuration form written by Encode, so keys can
// be strings in a JSON or TOML configuration; see ParseKey. Errors never
// include the secret.
func (k *Key) UnmarshalText(b []byte) error {
	id, enc, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || !validKeyID(id) {
		return errors.New("mailbox: parse key: want <id>:<base64 secret> with an id of 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	enc = strings.TrimRight(enc, "=")
	var secret []byte
	var err error
	if strings.ContainsAny(enc, "+/") {
		secret, err = base64.RawStdEncoding.DecodeString(enc)
	} else {
		secret, err = base64.RawURLEncoding.DecodeString(enc)
	}
	if err != nil {
		return fmt.Errorf("mailbox: parse key %q: secret is not base64", id)
	}
	if len(secret) != keySize {
		return fmt.Errorf("mailbox: parse key %q: secret is %d bytes, want %d (AES-256)", id, len(secret), keySize)
	}
	*k = Key{ID: id, Secret: secret}
	return nil
}

// LocalSealerConfig configures a LocalSealer.
type LocalSealerConfig struct {
	// Keys are the keys Open accepts, by id. At least one; ids unique.
	Keys []Key
	// Active is the id of the key Seal uses. Zero means Keys[0].ID. To
	// rotate, add the new key, make it active, and keep the old ones as
	// long as mail sealed with them may be opened.
	Active string
	// ForwardForeign makes Open report ErrProviderSealed for text that is
	// not a troupe envelope (provider ciphertext in a tree that mixes both
	// modes) instead of an error wrapping ErrMalformed. Zero: strict.
	ForwardForeign bool
}

// LocalSealer seals with AES-256-GCM under keys from its configuration, for
// providers without server-side encryption: the text stays sealed in every
// rollout and is opened only for the recipient's model request. Each Seal
// draws a fresh random 96-bit nonce. It is safe for concurrent use.
type LocalSealer struct {
	active         string
	aeads          map[string]cipher.AEAD
	forwardForeign bool
}

// NewLocalSealer validates cfg and returns a sealer.
func NewLocalSealer(cfg LocalSealerConfig) (*LocalSealer, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("mailbox: sealer config: no keys")
	}
	s := &LocalSealer{
		active:         cfg.Active,
		aeads:          make(map[string]cipher.AEAD, len(cfg.Keys)),
		forwardForeign: cfg.ForwardForeign,
	}
	if s.active == "" {
		s.active = cfg.Keys[0].ID
	}
	for _, k := range cfg.Keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("mailbox: sealer config: invalid key id %q (1 to %d of A-Z a-z 0-9 . _ -)", k.ID, maxKeyIDLen)
		}
		if _, dup := s.aeads[k.ID]; dup {
			return nil, fmt.Errorf("mailbox: sealer config: duplicate key id %q", k.ID)
		}
		if len(k.Secret) != keySize {
			return nil, fmt.Errorf("mailbox: sealer config: key %q is %d bytes, want %d (AES-256)", k.ID, len(k.Secret), keySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("mailbox: sealer config: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("mailbox: sealer config: key %q: %w", k.ID, err)
		}
		s.aeads[k.ID] = aead
	}
	if _, ok := s.aeads[s.active]; !ok {
		return nil, fmt.Errorf("mailbox: sealer config: active key %q is not among the keys", s.active)
	}
	return s, nil
}

// ActiveKey returns the id of the key Seal uses.
func (s *LocalSealer) ActiveKey() string { return s.active }

// Seal returns the envelope "troupe-seal:v1:<active key id>:<base64url>".
func (s *LocalSealer) Seal(plaintext string) (string, error) {
	header := envelopePrefix + envelopeVersion + ":" + s.active + ":"
	ct := s.aeads[s.active].Seal(nil, nil, []byte(plaintext), []byte(header))
	return header + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open returns the plaintext of an envelope made by Seal with any of the
// configured keys. Failures are *OpenError values wrapping ErrMalformed,
// ErrUnsupportedVersion, ErrUnknownKey or ErrAuth; text that is not an
// envelope gives ErrProviderSealed instead when ForwardForeign is set.
func (s *LocalSealer) Open(sealed string) (string, error) {
	env, err := parseEnvelope(sealed)
	if errors.Is(err, errForeign) && s.forwardForeign {
		return "", ErrProviderSealed
	}
	if err != nil {
		return "", &OpenError{KeyID: env.keyID, Err: err}
	}
	aead, ok := s.aeads[env.keyID]
	if !ok {
		return "", &OpenError{KeyID: env.keyID, Err: ErrUnknownKey}
	}
	plain, err := aead.Open(nil, nil, env.payload, []byte(env.header()))
	if err != nil {
		return "", &OpenError{KeyID: env.keyID, Err: ErrAuth}
	}
	return string(plain), nil
}

// errForeign marks text without the envelope prefix. It wraps ErrMalformed
// so a strict sealer reports it as such.
var errForeign = fmt.Errorf("%w: not a troupe seal envelope", ErrMalformed)

// envelope is a parsed seal envelope.
type envelope struct {
	version string
	keyID   string
	payload []byte // nonce || ciphertext || tag
}

func (e envelope) header() string {
	return envelopePrefix + e.version + ":" + e.keyID + ":"
}

func (e envelope) String() string {
	return e.header() + base64.RawURLEncoding.EncodeToString(e.payload)
}

// parseEnvelope decodes the envelope syntax strictly: exactly one encoding
// of each payload is accepted, so String gives back the input. The key id is
// returned with an error when the envelope got that far.
func parseEnvelope(s string) (envelope, error) {
	rest, ok := strings.CutPrefix(s, envelopePrefix)
	if !ok {
		return envelope{}, errForeign
	}
	version, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return envelope{}, fmt.Errorf("%w: no version", ErrMalformed)
	}
	if version != envelopeVersion {
		if isVersion(version) {
			return envelope{}, fmt.Errorf("%w: %q", ErrUnsupportedVersion, version)
		}
		return envelope{}, fmt.Errorf("%w: bad version field", ErrMalformed)
	}
	keyID, data, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(keyID) {
		return envelope{}, fmt.Errorf("%w: bad key id field", ErrMalformed)
	}
	env := envelope{version: version, keyID: keyID}
	for i := 0; i < len(data); i++ {
		if !isBase64URL(data[i]) {
			return env, fmt.Errorf("%w: byte %d of the payload is not base64url", ErrMalformed, i)
		}
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(data)
	if err != nil {
		return env, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if len(payload) < gcmNonceSize+gcmTagSize {
		return env, fmt.Errorf("%w: truncated payload (%d bytes, at least %d)", ErrMalformed, len(payload), gcmNonceSize+gcmTagSize)
	}
	env.payload = payload
	return env, nil
}

// isVersion reports whether v looks like a version ("v" and digits), to
// tell a newer format from garbage.
func isVersion(v string) bool {
	if len(v) < 2 || len(v) > 8 || v[0] != 'v' {
		return false
	}
	for i := 1; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
