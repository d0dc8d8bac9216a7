package capability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/troupe-run/troupe/environment"
)

// Files discovery looks for in a capability root, and their limits.
const (
	SkillFile       = "SKILL.md"
	SkillsDir       = "skills"
	ToolsManifest   = "tools.json"
	maxSkillBytes   = 256 << 10
	maxSkillsByRoot = 256
	maxManifest     = 1 << 20
	maxToolsByRoot  = 128
	maxSkillName    = 64
	maxSkillDesc    = 1024
)

// Skill is a SKILL.md a capability root offers.
type Skill struct {
	// Name and Description come from the file's front matter.
	Name        string
	Description string
	// Path is the real absolute path of the SKILL.md in the environment.
	Path string
	// Instructions is the body after the front matter.
	Instructions string
}

// DeclaredTool is a tool a root's manifest declares: a command the agent
// may call, run inside the root's environment. The calling convention: the
// command runs in Dir with the call's JSON arguments on stdin; exit status
// 0 means success and stdout is the output, anything else is a failed call
// whose output is stdout and stderr.
type DeclaredTool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments (an object schema).
	Parameters json.RawMessage
	// Command is the argv. A first element naming a file (it has a slash)
	// is replaced by its real absolute path, confined to the root; a bare
	// name is looked up in the environment's PATH.
	Command []string
	// Dir is the real absolute working directory, inside the root.
	Dir string
	// Timeout bounds a call; zero means the environment's default.
	Timeout time.Duration
}

// Discovery is what one capability root offers. It is shared through the
// cache: treat it as read-only.
type Discovery struct {
	// RealPath is the root's path with symlinks followed.
	RealPath string
	Skills   []Skill
	Tools    []DeclaredTool
	// Warnings name parts of the root that were skipped (a malformed
	// SKILL.md, a tool naming a file outside the root, ...).
	Warnings []string
}

// manifest is the format of tools.json:
//
//	{"tools": [{"name": "lint", "description": "Lint the tree",
//	            "parameters": {"type": "object", "properties": {...}},
//	            "command": ["bin/lint", "--json"], "dir": "src",
//	            "timeout_ms": 60000}]}
//
// name matches ^[A-Za-z0-9_-]{1,64}$ and is unique in the file;
// description and command are required; parameters defaults to an empty
// object schema; dir (relative to the root) defaults to the root.
type manifest struct {
	Tools []manifestTool `json:"tools"`
}

type manifestTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Command     []string        `json:"command"`
	Dir         string          `json:"dir,omitempty"`
	TimeoutMS   int64           `json:"timeout_ms,omitempty"`
}

// ErrOutsideRoot means a file a skill or tool names resolves, after
// symlinks, outside its capability root. It matches environment.ErrEscape
// too.
var ErrOutsideRoot error = outsideRootError{}

type outsideRootError struct{}

func (outsideRootError) Error() string { return "capability: path escapes the capability root" }
func (outsideRootError) Unwrap() error { return environment.ErrEscape }

var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// within reports whether p is base or below it (slash paths, clean).
func within(p, base string) bool {
	return p == base || base == "/" || strings.HasPrefix(p, base+"/")
}

// discoverer reads one root through its environment.
type discoverer struct {
	env  environment.Environment
	pr   environment.PathResolver
	id   string
	real string
	d    *Discovery
}

func (x *discoverer) warn(format string, args ...any) {
	x.d.Warnings = append(x.d.Warnings, fmt.Sprintf("capability root %q: ", x.id)+fmt.Sprintf(format, args...))
}

// confined returns the real path of p (absolute, or relative to the root),
// which must lie inside the root.
func (x *discoverer) confined(ctx context.Context, p string) (string, error) {
	if !path.IsAbs(p) {
		p = path.Join(x.real, p)
	}
	real, err := x.pr.RealPath(ctx, p)
	if err != nil {
		return "", err
	}
	if !within(real, x.real) {
		return "", fmt.Errorf("%w: %s resolves to %s, outside %s", ErrOutsideRoot, p, real, x.real)
	}
	return real, nil
}

// discover reads what root offers in env: skills and declared tools. The
// error is for the root as a whole (bad path, escape, not a directory,
// environment unreachable); problems with single skills or tools are
// warnings.
func discover(ctx context.Context, env environment.Environment, root SelectedCapabilityRoot) (Discovery, error) {
	if err := root.Validate(); err != nil {
		return Discovery{}, err
	}
	pr, ok := env.(environment.PathResolver)
	if !ok {
		return Discovery{}, fmt.Errorf("capability: root %q: environment %s cannot resolve paths (environment.PathResolver)", root.ID, root.Location.EnvironmentID)
	}
	real, err := pr.RealPath(ctx, root.Location.Path)
	if err != nil {
		return Discovery{}, fmt.Errorf("capability: root %q: %w", root.ID, err)
	}
	fi, err := env.Stat(ctx, real)
	if err != nil {
		return Discovery{}, fmt.Errorf("capability: root %q: %w", root.ID, err)
	}
	if !fi.IsDir() {
		return Discovery{}, fmt.Errorf("%w: root %q: %s is not a directory", ErrRootPath, root.ID, root.Location.Path)
	}
	d := Discovery{RealPath: real}
	x := &discoverer{env: env, pr: pr, id: root.ID, real: real, d: &d}
	if err := x.skills(ctx); err != nil {
		return Discovery{}, err
	}
	if err := x.tools(ctx); err != nil {
		return Discovery{}, err
	}
	return d, nil
}

// transient reports errors that say nothing lasting about the root.
func transient(err error) bool {
	return errors.Is(err, environment.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// skills finds SKILL.md in the root, in each directory directly below it,
// and in each directory of the root's skills/ directory.
func (x *discoverer) skills(ctx context.Context) error {
	dirs := []string{x.real}
	ents, err := x.env.ReadDir(ctx, x.real)
	if err != nil {
		return fmt.Errorf("capability: root %q: %w", x.id, err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Type&fs.ModeSymlink != 0 {
			dirs = append(dirs, path.Join(x.real, e.Name))
		}
	}
	if sub, err := x.env.ReadDir(ctx, path.Join(x.real, SkillsDir)); err == nil {
		for _, e := range sub {
			if e.IsDir() || e.Type&fs.ModeSymlink != 0 {
				dirs = append(dirs, path.Join(x.real, SkillsDir, e.Name))
			}
		}
	} else if transient(err) {
		return err
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		file := path.Join(dir, SkillFile)
		fi, err := x.env.Stat(ctx, file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case transient(err):
			return err
		case errors.Is(err, environment.ErrEscape):
			x.warn("%s escapes the environment", file)
			continue
		case err != nil:
			x.warn("%s: %v", file, err)
			continue
		case fi.IsDir():
			continue
		}
		real, err := x.confined(ctx, file)
		if err != nil {
			if transient(err) {
				return err
			}
			x.warn("skill %s rejected: %v", file, err)
			continue
		}
		data, err := x.env.ReadFile(ctx, real)
		if err != nil {
			if transient(err) {
				return err
			}
			x.warn("skill %s: %v", file, err)
			continue
		}
		if len(data) > maxSkillBytes {
			x.warn("skill %s: %d bytes, over the %d limit", file, len(data), maxSkillBytes)
			continue
		}
		s, err := ParseSkill(data)
		if err != nil {
			x.warn("skill %s: %v", file, err)
			continue
		}
		if seen[s.Name] {
			x.warn("skill %s: duplicate skill name %q ignored", file, s.Name)
			continue
		}
		if len(x.d.Skills) == maxSkillsByRoot {
			x.warn("more than %d skills; the rest are ignored", maxSkillsByRoot)
			break
		}
		seen[s.Name] = true
		s.Path = real
		x.d.Skills = append(x.d.Skills, s)
	}
	return nil
}

// ParseSkill parses a SKILL.md: a front matter block between "---" lines
// holding "name:" and "description:" (plain, single- or double-quoted
// values; other keys are ignored), then the instructions.
func ParseSkill(data []byte) (Skill, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.TrimPrefix(text, "\ufeff")
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		return Skill{}, errors.New(`capability: SKILL.md must start with a "---" front matter line`)
	}
	header, body, ok := strings.Cut(rest, "\n---")
	if !ok {
		return Skill{}, errors.New("capability: SKILL.md front matter is not closed by a \"---\" line")
	}
	if after, found := strings.CutPrefix(body, "\n"); found || body == "" {
		body = after
	} else {
		return Skill{}, errors.New("capability: SKILL.md front matter is not closed by a \"---\" line")
	}
	var s Skill
	for i, line := range strings.Split(header, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // nested value of a key we ignore
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return Skill{}, fmt.Errorf("capability: SKILL.md front matter line %d: want key: value", i+1)
		}
		val, err := unquote(strings.TrimSpace(val))
		if err != nil {
			return Skill{}, fmt.Errorf("capability: SKILL.md front matter %s: %w", key, err)
		}
		switch strings.TrimSpace(key) {
		case "name":
			s.Name = val
		case "description":
			s.Description = val
		}
	}
	switch {
	case s.Name == "":
		return Skill{}, errors.New("capability: SKILL.md front matter has no name")
	case s.Description == "":
		return Skill{}, errors.New("capability: SKILL.md front matter has no description")
	case len(s.Name) > maxSkillName:
		return Skill{}, fmt.Errorf("capability: SKILL.md name is %d bytes, at most %d", len(s.Name), maxSkillName)
	case len(s.Description) > maxSkillDesc:
		return Skill{}, fmt.Errorf("capability: SKILL.md description is %d bytes, at most %d", len(s.Description), maxSkillDesc)
	}
	s.Instructions = strings.TrimLeft(body, "\n")
	return s, nil
}

func unquote(v string) (string, error) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if v[len(v)-1] != v[0] {
			return "", errors.New("unterminated quoted value")
		}
		if v[0] == '"' {
			var s string
			if err := json.Unmarshal([]byte(v), &s); err != nil {
				return "", fmt.Errorf("bad double-quoted value: %v", err)
			}
			return s, nil
		}
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'"), nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}

// tools reads the root's tools.json, if any.
func (x *discoverer) tools(ctx context.Context) error {
	file := path.Join(x.real, ToolsManifest)
	if _, err := x.env.Stat(ctx, file); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if transient(err) {
		return err
	} else if err != nil {
		x.warn("%s: %v", ToolsManifest, err)
		return nil
	}
	real, err := x.confined(ctx, file)
	if err != nil {
		if transient(err) {
			return err
		}
		x.warn("%s rejected: %v", ToolsManifest, err)
		return nil
	}
	data, err := x.env.ReadFile(ctx, real)
	if err != nil {
		if transient(err) {
			return err
		}
		x.warn("%s: %v", ToolsManifest, err)
		return nil
	}
	if len(data) > maxManifest {
		x.warn("%s: %d bytes, over the %d limit", ToolsManifest, len(data), maxManifest)
		return nil
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		x.warn("%s: %v", ToolsManifest, err)
		return nil
	}
	seen := map[string]bool{}
	for i, mt := range m.Tools {
		t, err := x.tool(ctx, mt)
		if err != nil {
			if transient(err) {
				return err
			}
			x.warn("%s: tool %d (%q): %v", ToolsManifest, i, mt.Name, err)
			continue
		}
		if seen[t.Name] {
			x.warn("%s: duplicate tool name %q ignored", ToolsManifest, t.Name)
			continue
		}
		if len(x.d.Tools) == maxToolsByRoot {
			x.warn("%s: more than %d tools; the rest are ignored", ToolsManifest, maxToolsByRoot)
			break
		}
		seen[t.Name] = true
		x.d.Tools = append(x.d.Tools, t)
	}
	return nil
}

var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

func (x *discoverer) tool(ctx context.Context, mt manifestTool) (DeclaredTool, error) {
	switch {
	case !toolName.MatchString(mt.Name):
		return DeclaredTool{}, fmt.Errorf("name must match %s", toolName)
	case strings.TrimSpace(mt.Description) == "":
		return DeclaredTool{}, errors.New("description is required")
	case len(mt.Command) == 0 || mt.Command[0] == "":
		return DeclaredTool{}, errors.New("command is required")
	case mt.TimeoutMS < 0:
		return DeclaredTool{}, errors.New("timeout_ms is negative")
	}
	t := DeclaredTool{
		Name:        mt.Name,
		Description: mt.Description,
		Parameters:  emptyObjectSchema,
		Command:     append([]string(nil), mt.Command...),
		Dir:         x.real,
		Timeout:     time.Duration(mt.TimeoutMS) * time.Millisecond,
	}
	if len(mt.Parameters) > 0 && string(mt.Parameters) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(mt.Parameters, &obj); err != nil {
			return DeclaredTool{}, fmt.Errorf("parameters must be a JSON Schema object: %v", err)
		}
		if typ, ok := obj["type"]; ok && string(typ) != `"object"` {
			return DeclaredTool{}, fmt.Errorf("parameters must be an object schema, not type %s", typ)
		}
		t.Parameters = append(json.RawMessage(nil), mt.Parameters...)
	}
	if strings.Contains(t.Command[0], "/") {
		real, err := x.confined(ctx, t.Command[0])
		if err != nil {
			return DeclaredTool{}, fmt.Errorf("command %s: %w", t.Command[0], err)
		}
		fi, err := x.env.Stat(ctx, real)
		if err != nil {
			return DeclaredTool{}, fmt.Errorf("command %s: %w", t.Command[0], err)
		}
		if fi.IsDir() {
			return DeclaredTool{}, fmt.Errorf("command %s is a directory", t.Command[0])
		}
		t.Command[0] = real
	}
	if mt.Dir != "" {
		real, err := x.confined(ctx, mt.Dir)
		if err != nil {
			return DeclaredTool{}, fmt.Errorf("dir %s: %w", mt.Dir, err)
		}
		fi, err := x.env.Stat(ctx, real)
		if err != nil {
			return DeclaredTool{}, fmt.Errorf("dir %s: %w", mt.Dir, err)
		}
		if !fi.IsDir() {
			return DeclaredTool{}, fmt.Errorf("dir %s is not a directory", mt.Dir)
		}
		t.Dir = real
	}
	return t, nil
}
