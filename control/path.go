package control

import (
	"errors"
	"strings"
)

// Path is an agent's canonical path in its tree: "/root" for the root,
// "/root/researcher/fact_checker" for a grandchild. The zero Path is not
// valid; use ParsePath, RootPath or Path.Join.
type Path struct{ s string }

// RootPath is the path of every tree's root agent.
var RootPath = Path{"/root"}

// morpheus is the one other absolute path Codex accepts (and never
// produces).
const morpheus = "/morpheus"

// ErrInvalidPath is matched (errors.Is) by every error about a malformed
// agent path or task name. The error text is Codex's, so the model sees the
// same message it would from Codex.
var ErrInvalidPath = errors.New("control: invalid agent path")

// pathError is a path or task-name error with Codex's text.
type pathError struct{ msg string }

func (e *pathError) Error() string { return e.msg }
func (e *pathError) Is(target error) bool {
	return target == ErrInvalidPath
}

// ParsePath parses an absolute agent path. It must be "/root" or start
// with "/root/", must not end with "/", and every segment after "root" must
// be a valid task name (see ValidateTaskName).
func ParsePath(s string) (Path, error) {
	if s == morpheus {
		return Path{s}, nil
	}
	if s != "/root" && !strings.HasPrefix(s, "/root/") {
		return Path{}, &pathError{"absolute agent paths must start with `/root` or be `/morpheus`"}
	}
	if strings.HasSuffix(s, "/") {
		return Path{}, &pathError{"absolute agent path must not end with `/`"}
	}
	for _, seg := range strings.Split(s, "/")[2:] {
		if err := ValidateTaskName(seg); err != nil {
			return Path{}, err
		}
	}
	return Path{s}, nil
}

// ValidateTaskName checks one path segment (a spawn_agent task_name), in
// Codex's order and with its texts: not empty, not "root", "." or "..", no
// "/", only [a-z0-9_].
func ValidateTaskName(name string) error {
	switch {
	case name == "":
		return &pathError{"agent_name must not be empty"}
	case name == "root" || name == "." || name == "..":
		return &pathError{"agent_name `" + name + "` is reserved"}
	case strings.Contains(name, "/"):
		return &pathError{"agent_name must not contain `/`"}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return &pathError{"agent_name must use only lowercase letters, digits, and underscores"}
		}
	}
	return nil
}

// String returns the canonical form of p.
func (p Path) String() string { return p.s }

// IsZero reports whether p is the zero Path.
func (p Path) IsZero() bool { return p.s == "" }

// IsRoot reports whether p is "/root".
func (p Path) IsRoot() bool { return p.s == "/root" }

// Join returns the path of a child named name (a validated task name).
func (p Path) Join(name string) (Path, error) {
	if err := ValidateTaskName(name); err != nil {
		return Path{}, err
	}
	return Path{p.s + "/" + name}, nil
}

// Name returns the last segment ("root" for the root).
func (p Path) Name() string {
	return p.s[strings.LastIndexByte(p.s, '/')+1:]
}

// Parent returns the parent path, and false for the root (or the zero
// Path).
func (p Path) Parent() (Path, bool) {
	i := strings.LastIndexByte(p.s, '/')
	if i <= 0 {
		return Path{}, false
	}
	return Path{p.s[:i]}, true
}

// Depth is the number of segments below /root: 0 for the root, 1 for its
// children.
func (p Path) Depth() int {
	if p.s == "" {
		return 0
	}
	return strings.Count(p.s, "/") - 1
}

// HasPrefix reports whether p is prefix or lies below it ("/root" is a
// prefix of every path).
func (p Path) HasPrefix(prefix Path) bool {
	return p.s == prefix.s || prefix.s == "/root" || strings.HasPrefix(p.s, prefix.s+"/")
}

// Resolve resolves ref as a tool argument names an agent: "/root" and
// absolute paths are parsed, anything else is a relative name below p
// (Codex's rule: siblings and ancestors must be named absolutely).
func (p Path) Resolve(ref string) (Path, error) {
	switch {
	case ref == "":
		return Path{}, &pathError{"agent path must not be empty"}
	case ref == "/root":
		return RootPath, nil
	case strings.HasPrefix(ref, "/"):
		return ParsePath(ref)
	case strings.HasSuffix(ref, "/"):
		return Path{}, &pathError{"relative agent path must not end with `/`"}
	}
	for _, seg := range strings.Split(ref, "/") {
		if err := ValidateTaskName(seg); err != nil {
			return Path{}, err
		}
	}
	base := p
	if base.IsZero() {
		base = RootPath
	}
	return Path{base.s + "/" + ref}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Path) MarshalText() ([]byte, error) { return []byte(p.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParsePath.
func (p *Path) UnmarshalText(b []byte) error {
	q, err := ParsePath(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
