package environment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// RemoteConfig configures a Remote environment.
type RemoteConfig struct {
	// URL is the base URL of the environment server (http or https), for
	// example "http://10.0.0.7:7420". Required.
	URL string
	// Token is the bearer token the server expects. Required.
	Token string
	// Client sends the requests. Nil: a client of its own, whose idle
	// connections Close releases. Timeouts come from the callers' contexts.
	Client *http.Client
	// StartTimeout bounds Start, so a server that never answers makes the
	// handle fail instead of starting forever. Zero: DefaultStartTimeout.
	StartTimeout time.Duration
}

// DefaultStartTimeout is RemoteConfig.StartTimeout's default.
const DefaultStartTimeout = 30 * time.Second

// Remote is an environment served by an environment server (NewServer,
// cmd/troupe-envd) over HTTP/JSON. Its methods are safe for concurrent
// use. Every call is bounded by its context: a server that hangs surfaces
// as an error wrapping ErrUnavailable (and context.DeadlineExceeded), and
// the environment then reports itself disconnected until a call succeeds.
type Remote struct {
	base   string
	token  string
	client *http.Client
	owns   bool
	start  time.Duration

	mu      sync.Mutex
	info    *Info // from the last successful Start or Info
	lastErr error // nil while connected
	closed  bool
}

var (
	_ Environment        = (*Remote)(nil)
	_ Starter            = (*Remote)(nil)
	_ ConnectionReporter = (*Remote)(nil)
	_ RootAdvertiser     = (*Remote)(nil)
	_ PathResolver       = (*Remote)(nil)
	_ io.Closer          = (*Remote)(nil)
)

// NewRemote validates cfg and returns the environment. It connects to
// nothing until Start or the first call.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: remote URL %q: %v", ErrInvalid, cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: remote URL %q: want http://host[:port] or https://", ErrInvalid, cfg.URL)
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("%w: remote %s: empty token", ErrInvalid, cfg.URL)
	}
	if cfg.StartTimeout < 0 {
		return nil, fmt.Errorf("%w: remote %s: negative start timeout", ErrInvalid, cfg.URL)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	r := &Remote{base: strings.TrimSuffix(u.String(), "/"), token: cfg.Token, client: cfg.Client, start: cfg.StartTimeout}
	if r.client == nil {
		r.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		r.owns = true
	}
	return r, nil
}

// Start implements Starter: it fetches the server's Info, which checks
// reachability and credentials and caches the advertised capability roots,
// within the start timeout.
func (r *Remote) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.start)
	defer cancel()
	_, err := r.Info(ctx)
	return err
}

// Disconnected implements ConnectionReporter.
func (r *Remote) Disconnected() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// CapabilityRoots implements RootAdvertiser with the roots of the last
// Info the server sent.
func (r *Remote) CapabilityRoots() []AdvertisedRoot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.info == nil {
		return nil
	}
	return slices.Clone(r.info.CapabilityRoots)
}

// Close releases idle connections of a client the Remote created. It is
// idempotent; calls after Close still work but open new connections.
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owns && !r.closed {
		r.client.CloseIdleConnections()
		r.closed = true
	}
	return nil
}

// Info implements Environment.
func (r *Remote) Info(ctx context.Context) (Info, error) {
	var info Info
	if err := r.call(ctx, http.MethodGet, "/v1/info", nil, &info); err != nil {
		return Info{}, err
	}
	if err := ValidateAdvertisedRoots(info.CapabilityRoots); err != nil {
		return Info{}, fmt.Errorf("environment: remote %s: %w", r.base, err)
	}
	r.mu.Lock()
	r.info = &info
	r.mu.Unlock()
	return info, nil
}

// Run implements Runner; the server enforces Command.Timeout and the cap.
func (r *Remote) Run(ctx context.Context, c Command) (Result, error) {
	var res Result
	err := r.call(ctx, http.MethodPost, "/v1/run", c, &res)
	return res, err
}

// ReadFile implements Files.
func (r *Remote) ReadFile(ctx context.Context, name string) ([]byte, error) {
	var resp readResponse
	if err := r.call(ctx, http.MethodPost, "/v1/read", pathRequest{Path: name}, &resp); err != nil {
		return nil, err
	}
	if resp.Data == nil {
		resp.Data = []byte{}
	}
	return resp.Data, nil
}

// WriteFile implements Files.
func (r *Remote) WriteFile(ctx context.Context, name string, data []byte, perm fs.FileMode) error {
	return r.call(ctx, http.MethodPost, "/v1/write", writeRequest{Path: name, Data: data, Perm: perm}, nil)
}

// ReadDir implements Files.
func (r *Remote) ReadDir(ctx context.Context, name string) ([]DirEntry, error) {
	var resp readDirResponse
	if err := r.call(ctx, http.MethodPost, "/v1/readdir", pathRequest{Path: name}, &resp); err != nil {
		return nil, err
	}
	if resp.Entries == nil {
		resp.Entries = []DirEntry{}
	}
	return resp.Entries, nil
}

// Stat implements Files.
func (r *Remote) Stat(ctx context.Context, name string) (FileInfo, error) {
	var fi FileInfo
	err := r.call(ctx, http.MethodPost, "/v1/stat", pathRequest{Path: name}, &fi)
	return fi, err
}

// RealPath implements PathResolver; the server's environment must
// implement it too.
func (r *Remote) RealPath(ctx context.Context, name string) (string, error) {
	var resp pathRequest
	if err := r.call(ctx, http.MethodPost, "/v1/realpath", pathRequest{Path: name}, &resp); err != nil {
		return "", err
	}
	return resp.Path, nil
}

// call sends one request and decodes the answer into out (if non-nil).
func (r *Remote) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("environment: remote %s: encode: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return fmt.Errorf("environment: remote %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return r.transportError(ctx, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if rerr != nil {
			return r.transportError(ctx, path, rerr)
		}
		r.setConnected(nil)
		var er errorResponse
		if json.Unmarshal(raw, &er) == nil && er.Error.Code != "" {
			return decodeError(er.Error)
		}
		return fmt.Errorf("environment: remote %s %s: HTTP %d: %s", r.base, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			if ctx.Err() != nil {
				return r.transportError(ctx, path, err)
			}
			return fmt.Errorf("environment: remote %s %s: bad response: %w", r.base, path, err)
		}
	}
	r.setConnected(nil)
	return nil
}

// transportError classifies a failure to talk to the server. A caller that
// cancelled gets its cancellation back; anything else (refused connection,
// deadline passing on a hung server) means the server is unavailable.
func (r *Remote) transportError(ctx context.Context, path string, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("environment: remote %s %s: %w", r.base, path, context.Cause(ctx))
	}
	err = fmt.Errorf("%w: remote %s %s: %w", ErrUnavailable, r.base, path, err)
	r.setConnected(err)
	return err
}

func (r *Remote) setConnected(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}
