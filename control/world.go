package control

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// This file connects a tree's agents to their environments and world state
// (SPEC-agent 3.7, SPEC-environment 5): each agent's steps come from an
// agent.Workspace over the runtime's registry, the tree's environment
// selections and the agent's capability roots (persisted in its
// session_meta, restored on resume, inherited by children), and its world
// state gets a section control alone can build: the agent's place in its
// tree.

// TreeSectionID is the id of the agent-tree world-state section.
const TreeSectionID = "agent_tree"

// stepProvider returns n's StepProvider: nil (the agent's static tools and
// no world state) when the runtime has no environments, else a Workspace
// advertising tools plus what n's capability roots declare.
func (n *node) stepProvider(tools []capability.Tool) (agent.StepProvider, error) {
	rt := n.rt
	if rt.cfg.Environments == nil {
		return nil, nil
	}
	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{
		Registry:     rt.cfg.Environments,
		Environments: n.tree.opts.Environments,
		Roots:        selectedRoots(n.roots, rt.cfg.Logger),
		Tools:        tools,
		Sections:     n.treeSections,
		Logger:       rt.cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("control: workspace of %s: %w", n.path, err)
	}
	return ws, nil
}

// selectedRoots converts the session_meta form of capability roots to the
// resolver's, skipping (with a warning) roots that do not convert or are
// malformed: a bad persisted root must not keep the agent from starting.
func selectedRoots(rs []rollout.CapabilityRoot, log *slog.Logger) []capability.SelectedCapabilityRoot {
	out := make([]capability.SelectedCapabilityRoot, 0, len(rs))
	for _, r := range rs {
		var c capability.SelectedCapabilityRoot
		b, err := json.Marshal(r)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			log.Warn("control: capability root skipped", slog.String("root", r.ID), slog.Any("error", err))
			continue
		}
		out = append(out, c)
	}
	return out
}

// CapabilityRoots converts capability roots to their session_meta form
// (for ThreadOptions.SelectedCapabilityRoots).
func CapabilityRoots(roots ...capability.SelectedCapabilityRoot) ([]rollout.CapabilityRoot, error) {
	out := make([]rollout.CapabilityRoot, 0, len(roots))
	for _, c := range roots {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		var r rollout.CapabilityRoot
		b, err := json.Marshal(c)
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			return nil, fmt.Errorf("control: capability root %s: %w", c.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// treeSections is n's Workspace hook: the agent-tree section of a step.
func (n *node) treeSections(context.Context, agent.StepInfo) []agent.Section {
	rt := n.rt
	s := &TreeSection{Path: n.path.String()}
	rt.mu.Lock()
	for _, m := range n.tree.byPath {
		if m.parent == n && m.agent != nil && !m.closing.Load() {
			s.Children = append(s.Children, TreeChild{Path: m.path.String(), Nickname: m.nickname, Role: m.role})
		}
	}
	rt.mu.Unlock()
	slices.SortFunc(s.Children, func(a, b TreeChild) int { return strings.Compare(a.Path, b.Path) })
	return []agent.Section{s}
}

// TreeSection is the agent-tree world-state section: the agent's own path
// and its live children.
type TreeSection struct {
	Path     string      `json:"path"`
	Children []TreeChild `json:"children,omitempty"`
}

// TreeChild is one live child in a TreeSection.
type TreeChild struct {
	Path     string `json:"path"`
	Nickname string `json:"nickname,omitempty"`
	Role     string `json:"role,omitempty"`
}

var _ agent.Section = (*TreeSection)(nil)

// SectionID implements agent.Section.
func (s *TreeSection) SectionID() string { return TreeSectionID }

// Snapshot implements agent.Section.
func (s *TreeSection) Snapshot() any { return s }

// Render implements agent.Section. The section is small: any change
// restates it whole.
func (s *TreeSection) Render(agent.Prior) (agent.Fragment, bool) {
	var b strings.Builder
	b.WriteString("<agent_tree>\n")
	fmt.Fprintf(&b, "  <path>%s</path>\n", s.Path)
	if len(s.Children) == 0 {
		b.WriteString("  <children />\n")
	} else {
		b.WriteString("  <children>\n")
		for _, c := range s.Children {
			b.WriteString("    - ")
			b.WriteString(c.Path)
			if c.Nickname != "" {
				b.WriteString(": ")
				b.WriteString(c.Nickname)
			}
			if c.Role != "" {
				fmt.Fprintf(&b, " (%s)", c.Role)
			}
			b.WriteByte('\n')
		}
		b.WriteString("  </children>\n")
	}
	b.WriteString("</agent_tree>")
	return agent.Fragment{Role: rollout.RoleDeveloper, Text: b.String()}, true
}

// inheritWorld makes ws (a parent's world state, nil for none) the world
// state n starts from: persisted after n's copied history (items) and
// replayed by n's agent, so a full-history fork keeps diffing from its
// parent's baseline instead of restating it.
func (n *node) inheritWorld(ws *rollout.WorldState, items []rollout.Item) []rollout.Item {
	if ws == nil {
		return items
	}
	it := rollout.Item{Timestamp: n.rt.cfg.Clock(), Payload: ws}
	n.world = []rollout.Item{it}
	return append(items, it)
}

// isContextual reports whether a user message is harness context (an
// <environment_context> world-state fragment, ...) rather than a user
// turn: forks and rollbacks count turns by real user messages only.
func isContextual(it *rollout.ResponseItem) bool {
	if agent.IsHarnessContext(it) {
		return true // a world-state fragment, tagged or not
	}
	for _, p := range it.Content {
		if p.Type == rollout.PartInputText && rollout.IsContextualUserText(p.Text) {
			return true
		}
	}
	return false
}
