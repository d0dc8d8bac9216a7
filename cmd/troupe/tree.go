package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// threadState is what a thread's rollout says about where it stands.
type threadState struct {
	// Status is the status of the last turn ("" for a thread with none).
	Status rollout.TurnStatus `json:"status,omitempty"`
	// Turns is the number of turns.
	Turns int `json:"turns"`
	// LastMessage is the last agent message of the thread.
	LastMessage string `json:"last_message,omitempty"`
	// CorruptLines counts undecodable lines skipped.
	CorruptLines int `json:"corrupt_lines,omitempty"`
}

// stateOf reads a thread's rollout and reduces it to its turns. A rollout
// that cannot be read (a history mode this build does not know, say) gives
// an error the caller shows in place of the state.
func stateOf(ctx context.Context, s *sqlitestore.Store, id rollout.ThreadID) (threadState, []rollout.Turn, error) {
	data, err := s.Read(ctx, id)
	if err != nil {
		return threadState{}, nil, err
	}
	turns := rollout.Turns(data.Items)
	st := threadState{Turns: len(turns), CorruptLines: data.CorruptLines}
	if len(turns) > 0 {
		st.Status = turns[len(turns)-1].Status
	}
	for i := len(turns) - 1; i >= 0 && st.LastMessage == ""; i-- {
		items := turns[i].Items
		for j := len(items) - 1; j >= 0; j-- {
			if items[j].Type == "AgentMessage" {
				st.LastMessage = itemText(items[j])
				break
			}
		}
	}
	return st, turns, nil
}

// treeNode is one thread of a drawn spawn tree.
type treeNode struct {
	Thread jsonThread `json:"thread"`
	// EdgeStatus is the status of the spawn edge from the parent ("" for the
	// root).
	EdgeStatus string      `json:"edge_status,omitempty"`
	State      threadState `json:"state"`
	StateError string      `json:"state_error,omitempty"`
	Children   []*treeNode `json:"children,omitempty"`
}

func (a *app) threadsTree(ctx context.Context, root rollout.ThreadID) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	rt, err := s.Get(ctx, root)
	if err != nil {
		return err
	}
	threads := []sqlitestore.Thread{rt}
	for page := (sqlitestore.Page{Limit: sqlitestore.MaxPageSize}); ; {
		p, err := s.Descendants(ctx, root, page)
		if err != nil {
			return err
		}
		threads = append(threads, p.Threads...)
		if p.Next == "" {
			break
		}
		page.Cursor = p.Next
	}
	edges, err := s.SpawnDescendants(ctx, root, "")
	if err != nil {
		return err
	}
	edgeStatus := map[rollout.ThreadID]string{}
	for _, e := range edges {
		edgeStatus[e.Child] = e.Status
	}
	nodes := map[rollout.ThreadID]*treeNode{}
	for _, t := range threads {
		n := &treeNode{Thread: threadJSON(t), EdgeStatus: edgeStatus[t.ID]}
		if st, _, err := stateOf(ctx, s, t.ID); err != nil {
			n.StateError = err.Error()
		} else {
			n.State = st
		}
		nodes[t.ID] = n
	}
	for _, t := range threads[1:] {
		if p := nodes[t.ParentThreadID]; p != nil {
			p.Children = append(p.Children, nodes[t.ID])
		}
	}
	for _, n := range nodes {
		slices.SortFunc(n.Children, func(x, y *treeNode) int {
			if c := strings.Compare(x.Thread.AgentPath, y.Thread.AgentPath); c != 0 {
				return c
			}
			return strings.Compare(string(x.Thread.ID), string(y.Thread.ID))
		})
	}
	top := nodes[root]
	if a.json {
		return a.writeJSON(top)
	}
	a.drawNode(top, "", "")
	return nil
}

// drawNode prints n on a line starting with lead, and its children below
// it indented by indent.
func (a *app) drawNode(n *treeNode, lead, indent string) {
	name := n.Thread.AgentPath
	if name == "" {
		name = "/root"
		if n.Thread.ParentThreadID != "" {
			name = "(no path)"
		}
	}
	var status []string
	switch {
	case n.StateError != "":
		status = append(status, "unreadable: "+n.StateError)
	case n.State.Status != "":
		status = append(status, string(n.State.Status))
	default:
		status = append(status, "no turns")
	}
	if n.EdgeStatus != "" {
		status = append(status, n.EdgeStatus)
	}
	if n.Thread.Archived {
		status = append(status, "archived")
	}
	line := fmt.Sprintf("%s%s  %s  [%s]", lead, name, n.Thread.ID, strings.Join(status, ", "))
	if m := n.State.LastMessage; m != "" {
		line += fmt.Sprintf("  %q", clip(oneLine(m), 72))
	}
	fmt.Fprintln(a.stdout, line)
	for i, c := range n.Children {
		if i == len(n.Children)-1 {
			a.drawNode(c, indent+"└── ", indent+"    ")
		} else {
			a.drawNode(c, indent+"├── ", indent+"│   ")
		}
	}
}

func (a *app) threadsShow(ctx context.Context, id rollout.ThreadID, withTurns bool) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	t, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	st, turns, stErr := stateOf(ctx, s, id)
	if a.json {
		out := struct {
			Thread     jsonThread  `json:"thread"`
			State      threadState `json:"state"`
			StateError string      `json:"state_error,omitempty"`
			Turns      []jsonTurn  `json:"turns,omitempty"`
		}{Thread: threadJSON(t), State: st}
		if stErr != nil {
			out.StateError = stErr.Error()
		}
		if withTurns {
			out.Turns = []jsonTurn{}
			for _, tr := range turns {
				out.Turns = append(out.Turns, turnJSON(tr))
			}
		}
		return a.writeJSON(out)
	}
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(a.stdout, "%-14s %s\n", k+":", v)
		}
	}
	field("id", string(t.ID))
	field("title", oneLine(titleOf(t)))
	field("agent path", t.AgentPath)
	field("nickname", t.AgentNickname)
	field("role", t.AgentRole)
	field("parent", string(t.ParentThreadID))
	field("session", string(t.SessionID))
	field("forked from", string(t.ForkedFromID))
	field("source", t.SourceKind)
	field("originator", t.Originator)
	field("model", strings.TrimPrefix(t.ModelProvider+"/"+t.Model, "/"))
	field("cwd", t.Cwd)
	field("history mode", string(t.HistoryMode))
	field("created", t.CreatedAt.UTC().Format(time.RFC3339))
	field("updated", t.UpdatedAt.UTC().Format(time.RFC3339))
	if t.Archived {
		field("archived", t.ArchivedAt.UTC().Format(time.RFC3339))
	}
	field("tokens used", fmt.Sprint(t.TokensUsed))
	field("rollout", t.RolloutPath)
	if stErr != nil {
		field("history", "unreadable: "+stErr.Error())
		return nil
	}
	field("turns", fmt.Sprint(st.Turns))
	field("last status", string(st.Status))
	field("last message", clip(oneLine(st.LastMessage), 200))
	if st.CorruptLines > 0 {
		field("corrupt lines", fmt.Sprint(st.CorruptLines))
	}
	if withTurns {
		for i, tr := range turns {
			fmt.Fprintf(a.stdout, "\nturn %d  %s  [%s]%s\n", i+1, tr.ID, tr.Status, turnTiming(tr))
			if tr.Error != nil {
				fmt.Fprintf(a.stdout, "  error: %s\n", oneLine(tr.Error.Message))
			}
			for _, it := range tr.Items {
				fmt.Fprintf(a.stdout, "  %-20s %s\n", it.Type, clip(oneLine(itemSummary(it)), 100))
			}
		}
	}
	return nil
}

func turnTiming(tr rollout.Turn) string {
	if tr.Duration <= 0 {
		return ""
	}
	return "  " + tr.Duration.Round(time.Millisecond).String()
}

// jsonTurn is a turn as --json prints it; items keep Codex's TurnItem JSON.
type jsonTurn struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Error       string            `json:"error,omitempty"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	CompletedAt *time.Time        `json:"completed_at,omitempty"`
	DurationMS  int64             `json:"duration_ms,omitempty"`
	Items       []json.RawMessage `json:"items"`
}

func turnJSON(tr rollout.Turn) jsonTurn {
	j := jsonTurn{ID: tr.ID, Status: string(tr.Status), DurationMS: tr.Duration.Milliseconds(), Items: []json.RawMessage{}}
	if tr.Error != nil {
		j.Error = tr.Error.Message
	}
	if !tr.StartedAt.IsZero() {
		at := tr.StartedAt.UTC()
		j.StartedAt = &at
	}
	if !tr.CompletedAt.IsZero() {
		at := tr.CompletedAt.UTC()
		j.CompletedAt = &at
	}
	for _, it := range tr.Items {
		j.Items = append(j.Items, it.Raw)
	}
	return j
}

// turnItemFields are the fields of Codex TurnItems that the summaries use.
type turnItemFields struct {
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
	SummaryText    []string        `json:"summary_text"`
	Command        json.RawMessage `json:"command"`
	ExitCode       *int            `json:"exit_code"`
	Status         string          `json:"status"`
	Kind           string          `json:"kind"`
	AgentPath      string          `json:"agent_path"`
	Tool           string          `json:"tool"`
	DurationMS     *int64          `json:"durationMs"`
	Name           string          `json:"name"`
	Text           string          `json:"text"`
	AggregatedText string          `json:"aggregated_output"`
}

// itemText is the text of a message item.
func itemText(it rollout.TurnItem) string {
	var f turnItemFields
	if json.Unmarshal(it.Raw, &f) != nil {
		return ""
	}
	var parts []string
	for _, c := range f.Content {
		if c.Text != "" {
			parts = append(parts, c.Text)
		}
	}
	if len(parts) == 0 && f.Text != "" {
		return f.Text
	}
	return strings.Join(parts, "\n")
}

// itemSummary is one line about any TurnItem.
func itemSummary(it rollout.TurnItem) string {
	var f turnItemFields
	if json.Unmarshal(it.Raw, &f) != nil {
		return "(undecodable item)"
	}
	switch it.Type {
	case "UserMessage", "AgentMessage":
		return itemText(it)
	case "Reasoning":
		return strings.Join(f.SummaryText, " ")
	case "CommandExecution":
		cmd := commandText(f.Command)
		if f.ExitCode != nil {
			return fmt.Sprintf("%s (exit %d)", cmd, *f.ExitCode)
		}
		return fmt.Sprintf("%s (%s)", cmd, f.Status)
	case "SubAgentActivity":
		return f.Kind + " " + f.AgentPath
	case "CollabAgentToolCall":
		return f.Tool + " " + f.Status
	case "Extension", "Sleep":
		if f.DurationMS != nil {
			return fmt.Sprintf("%s %d ms", f.Kind, *f.DurationMS)
		}
		return f.Kind
	case "DynamicToolCall":
		return f.Name + " " + f.Status
	}
	return itemText(it)
}

// commandText renders a command that is either an argv array or a string.
func commandText(raw json.RawMessage) string {
	var argv []string
	if json.Unmarshal(raw, &argv) == nil {
		if len(argv) == 3 && (argv[1] == "-lc" || argv[1] == "-c") {
			return argv[2]
		}
		return strings.Join(argv, " ")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
