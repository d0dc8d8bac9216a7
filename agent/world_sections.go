package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/troupe-run/troupe/rollout"
)

// The built-in world-state sections: the environments with the date and
// time zone (Codex's "environments" section, rendered as
// <environment_context>), and the capability roots with their skills and
// tools. Workspace builds them at each step.

// EnvironmentsSectionID and RootsSectionID are the ids of the built-in
// sections in world_state records.
const (
	EnvironmentsSectionID = "environments"
	RootsSectionID        = "capability_roots"
)

// Environment statuses in the environments section.
const (
	EnvAvailable    = "available"
	EnvStarting     = "starting"
	EnvDisconnected = "disconnected"
)

// EnvironmentState is one environment as the model sees it.
type EnvironmentState struct {
	Cwd    string `json:"cwd"`
	Status string `json:"status"`
	// Shell is the shell's name; empty while unknown (starting).
	Shell string `json:"shell,omitempty"`
}

// EnvironmentsSection is the environments a step captured (by id), with
// the date and time zone of the step. Its snapshot has Codex's shape:
// {"environments": {id: {cwd, status, shell?}}, "current_date",
// "timezone"}.
type EnvironmentsSection struct {
	Environments map[string]EnvironmentState `json:"environments"`
	CurrentDate  string                      `json:"current_date,omitempty"`
	Timezone     string                      `json:"timezone,omitempty"`
}

var _ Section = (*EnvironmentsSection)(nil)

// SectionID implements Section.
func (s *EnvironmentsSection) SectionID() string { return EnvironmentsSectionID }

// Snapshot implements Section.
func (s *EnvironmentsSection) Snapshot() any {
	if s.Environments == nil {
		c := *s
		c.Environments = map[string]EnvironmentState{}
		return &c
	}
	return s
}

// Render implements Section. With a known prior it lists the environments
// that are new or changed (a shell that was unknown and is now known is no
// change) and the ones gone, as status="unavailable"; a change of date or
// time zone restates both. Otherwise it lists everything. A single
// available environment renders in the flat form (<cwd>, <shell>).
func (s *EnvironmentsSection) Render(p Prior) (Fragment, bool) {
	// Decoded leniently: Codex's section has more members (filesystem,
	// network, subagents), and a thread Codex wrote diffs from what it
	// showed instead of restating it. Members we do not know compare as
	// absent.
	var prev EnvironmentsSection
	known := p.Kind == PriorKnown && json.Unmarshal(p.State, &prev) == nil
	if !known {
		prev = EnvironmentsSection{} // a failed decode may have filled part of it
	}
	type update struct {
		id   string
		st   EnvironmentState
		gone bool
	}
	var ups []update
	for id, st := range s.Environments {
		if known {
			if old, ok := prev.Environments[id]; ok && sameEnv(old, st) {
				continue
			}
		}
		ups = append(ups, update{id: id, st: st})
	}
	if known {
		for id := range prev.Environments {
			if _, ok := s.Environments[id]; !ok {
				ups = append(ups, update{id: id, gone: true})
			}
		}
	}
	slices.SortFunc(ups, func(a, b update) int { return strings.Compare(a.id, b.id) })
	// Date and zone are compared with an empty prior when none is known.
	if len(ups) == 0 && prev.CurrentDate == s.CurrentDate && prev.Timezone == s.Timezone {
		return Fragment{}, false
	}
	var b strings.Builder
	b.WriteString("<environment_context>\n")
	single := len(s.Environments) == 1 && len(ups) == 1 && !ups[0].gone && ups[0].st.Status == EnvAvailable
	switch {
	case single:
		writeEnvValues(&b, ups[0].st, "  ")
	case len(ups) > 0:
		b.WriteString("  <environments>\n")
		for _, u := range ups {
			if u.gone {
				fmt.Fprintf(&b, "    <environment id=\"%s\" status=\"unavailable\" />\n", xmlEscape(u.id))
				continue
			}
			fmt.Fprintf(&b, "    <environment id=\"%s\">\n", xmlEscape(u.id))
			writeEnvValues(&b, u.st, "      ")
			b.WriteString("    </environment>\n")
		}
		b.WriteString("  </environments>\n")
	}
	if s.CurrentDate != "" {
		fmt.Fprintf(&b, "  <current_date>%s</current_date>\n", xmlEscape(s.CurrentDate))
	}
	if s.Timezone != "" {
		fmt.Fprintf(&b, "  <timezone>%s</timezone>\n", xmlEscape(s.Timezone))
	}
	b.WriteString("</environment_context>")
	return Fragment{Role: rollout.RoleUser, Text: b.String()}, true
}

// sameEnv compares two states for the diff; the shell counts only when
// both are known.
func sameEnv(a, b EnvironmentState) bool {
	return a.Cwd == b.Cwd && a.Status == b.Status && (a.Shell == "" || b.Shell == "" || a.Shell == b.Shell)
}

func writeEnvValues(b *strings.Builder, st EnvironmentState, indent string) {
	if st.Cwd != "" {
		fmt.Fprintf(b, "%s<cwd>%s</cwd>\n", indent, xmlEscape(st.Cwd))
	}
	if st.Shell != "" {
		fmt.Fprintf(b, "%s<shell>%s</shell>\n", indent, xmlEscape(st.Shell))
	}
	if st.Status != EnvAvailable {
		fmt.Fprintf(b, "%s<status>%s</status>\n", indent, xmlEscape(st.Status))
	}
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

// RootState is one capability root as the model sees it.
type RootState struct {
	// Status is "available" or "unavailable".
	Status      string `json:"status"`
	Environment string `json:"environment"`
	Path        string `json:"path"`
	// Reason says why an unavailable root cannot be used this step.
	Reason string       `json:"reason,omitempty"`
	Skills []SkillState `json:"skills,omitempty"`
	Tools  []string     `json:"tools,omitempty"`
}

// SkillState is one skill of a root.
type SkillState struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Path is the SKILL.md file, to read before following the skill.
	Path string `json:"path"`
}

// Root statuses in the capability roots section.
const (
	RootAvailable   = "available"
	RootUnavailable = "unavailable"
)

// RootsSection is the capability roots of a step (by id): the available
// ones with their skills and tools, and the unavailable ones with why.
type RootsSection struct {
	Roots map[string]RootState `json:"roots"`
}

var _ Section = (*RootsSection)(nil)

// SectionID implements Section.
func (s *RootsSection) SectionID() string { return RootsSectionID }

// Snapshot implements Section.
func (s *RootsSection) Snapshot() any {
	if s.Roots == nil {
		return &RootsSection{Roots: map[string]RootState{}}
	}
	return s
}

// rootsIntro starts the full rendering.
const rootsIntro = "Capability roots offer skills and tools. A skill's instructions are in its SKILL.md file: read it before following the skill. A root's tools are callable while the root is available."

// Render implements Section: everything without a known prior (nothing
// when there are no roots), otherwise the roots that are new or changed
// and, as unavailable, the ones gone.
func (s *RootsSection) Render(p Prior) (Fragment, bool) {
	var prev RootsSection
	known := p.Decode(&prev)
	if !known {
		prev = RootsSection{}
	}
	ids := make([]string, 0, len(s.Roots))
	for id, st := range s.Roots {
		if known {
			if old, ok := prev.Roots[id]; ok && sameRoot(old, st) {
				continue
			}
		}
		ids = append(ids, id)
	}
	var gone []string
	if known {
		for id := range prev.Roots {
			if _, ok := s.Roots[id]; !ok {
				gone = append(gone, id)
			}
		}
	}
	if len(ids) == 0 && len(gone) == 0 {
		return Fragment{}, false
	}
	all := append(ids, gone...)
	slices.Sort(all)
	var b strings.Builder
	b.WriteString("<capability_roots>\n")
	if !known {
		b.WriteString(rootsIntro)
		b.WriteByte('\n')
	}
	for _, id := range all {
		st, ok := s.Roots[id]
		if !ok {
			fmt.Fprintf(&b, "  <root id=\"%s\" status=\"unavailable\" />\n", xmlEscape(id))
			continue
		}
		if st.Status != RootAvailable {
			fmt.Fprintf(&b, "  <root id=\"%s\" status=\"unavailable\">%s</root>\n", xmlEscape(id), xmlEscape(st.Reason))
			continue
		}
		fmt.Fprintf(&b, "  <root id=\"%s\" environment=\"%s\" path=\"%s\">\n", xmlEscape(id), xmlEscape(st.Environment), xmlEscape(st.Path))
		for _, sk := range st.Skills {
			fmt.Fprintf(&b, "    <skill name=\"%s\" path=\"%s\">%s</skill>\n", xmlEscape(sk.Name), xmlEscape(sk.Path), xmlEscape(sk.Description))
		}
		for _, t := range st.Tools {
			fmt.Fprintf(&b, "    <tool name=\"%s\" />\n", xmlEscape(t))
		}
		b.WriteString("  </root>\n")
	}
	b.WriteString("</capability_roots>")
	return Fragment{Role: rollout.RoleDeveloper, Text: b.String()}, true
}

// sameRoot compares two root states. An unavailable root whose reason
// changed (starting, then failed) is a change.
func sameRoot(a, b RootState) bool {
	return a.Status == b.Status && a.Environment == b.Environment && a.Path == b.Path && a.Reason == b.Reason &&
		slices.Equal(a.Skills, b.Skills) && slices.Equal(a.Tools, b.Tools)
}
