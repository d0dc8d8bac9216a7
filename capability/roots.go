package capability

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/troupe-run/troupe/environment"
)

// LocationEnvironment is the only location type: a path owned by an
// execution environment.
const LocationEnvironment = "environment"

// ErrRootPath means a capability root's path is not absolute and clean, or
// does not lie where it claims once symlinks are followed.
var ErrRootPath = errors.New("capability: bad capability root path")

// SelectedCapabilityRoot is a capability root a thread selected: durable
// intent, persisted in session_meta.selected_capability_roots with Codex's
// field names ({id, location: {type: "environment", environmentId, path}}).
type SelectedCapabilityRoot struct {
	// ID is the stable identifier of the root; roots are de-duplicated by it.
	ID string `json:"id"`
	// Location says where the root can be resolved.
	Location Location `json:"location"`
}

// Location is where a selected capability root lives: a path inside an
// environment. Path is a native absolute path; on the wire it is a file:
// URI, as Codex writes it, and decoding accepts either form.
type Location struct {
	// Type is LocationEnvironment.
	Type string
	// EnvironmentID names the environment holding the root.
	EnvironmentID string
	// Path is the absolute, clean path of the root inside the environment.
	Path string
}

type wireLocation struct {
	Type          string `json:"type"`
	EnvironmentID string `json:"environmentId"`
	Path          string `json:"path"`
}

// MarshalJSON writes the location as Codex does: the path as a file: URI.
func (l Location) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireLocation{Type: l.Type, EnvironmentID: l.EnvironmentID, Path: pathToURI(l.Path)})
}

// UnmarshalJSON reads a location whose path is a file: URI or an absolute
// path. It rejects other location types.
func (l *Location) UnmarshalJSON(b []byte) error {
	var w wireLocation
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type != LocationEnvironment {
		return fmt.Errorf("capability: unsupported capability root location type %q", w.Type)
	}
	p, err := uriToPath(w.Path)
	if err != nil {
		return err
	}
	*l = Location{Type: w.Type, EnvironmentID: w.EnvironmentID, Path: p}
	return nil
}

// PathURI returns the wire form of a root path: a file: URI for an
// absolute path (as Codex persists it), anything else unchanged.
func PathURI(p string) string { return pathToURI(p) }

// ParsePathURI returns the native path of a root path in wire form: a
// file: URI (host empty or localhost) or a plain path.
func ParsePathURI(s string) (string, error) { return uriToPath(s) }

func pathToURI(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

func uriToPath(s string) (string, error) {
	if !strings.HasPrefix(s, "file:") {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("capability: capability root path %q: %w", s, err)
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("capability: capability root path %q: remote file URI host %q", s, u.Host)
	}
	if u.Path == "" {
		return "", fmt.Errorf("capability: capability root path %q: empty path", s)
	}
	return u.Path, nil
}

// EnvironmentRoot returns a selected root at path inside environment envID.
func EnvironmentRoot(id, envID, path string) SelectedCapabilityRoot {
	return SelectedCapabilityRoot{ID: id, Location: Location{Type: LocationEnvironment, EnvironmentID: envID, Path: path}}
}

// Validate checks the root: non-empty id and environment id, an
// environment location, and an absolute path with no "." or ".." element.
func (r SelectedCapabilityRoot) Validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("capability: capability root with empty id")
	case r.Location.Type != LocationEnvironment:
		return fmt.Errorf("capability: capability root %q: unsupported location type %q", r.ID, r.Location.Type)
	case r.Location.EnvironmentID == "":
		return fmt.Errorf("capability: capability root %q: empty environment id", r.ID)
	}
	return checkRootPath(r.ID, r.Location.Path)
}

func checkRootPath(id, p string) error {
	if !path.IsAbs(p) || strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%w: root %q: path %q is not absolute", ErrRootPath, id, p)
	}
	for rest := p; rest != ""; {
		var el string
		el, rest, _ = strings.Cut(rest, "/")
		if el == ".." || el == "." {
			return fmt.Errorf("%w: root %q: path %q contains %q", ErrRootPath, id, p, el)
		}
	}
	return nil
}

// advertised turns the roots an environment advertises into selected
// roots located in that environment.
func advertised(envID string, roots []environment.AdvertisedRoot) []SelectedCapabilityRoot {
	out := make([]SelectedCapabilityRoot, len(roots))
	for i, r := range roots {
		out[i] = EnvironmentRoot(r.ID, envID, r.Path)
	}
	return out
}
