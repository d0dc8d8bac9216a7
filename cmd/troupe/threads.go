package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

func threadCommands() map[string]*command {
	var (
		archived, all, turns, caseSensitive bool
		parent, ancestor, sortKey, cursor   string
		limit                               int
	)
	pageFlags := func(fs *flag.FlagSet) {
		fs.IntVar(&limit, "limit", 0, "page size")
		fs.StringVar(&cursor, "cursor", "", "continue after the page that printed this cursor")
	}
	return map[string]*command{
		"list": {
			name: "threads list",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&archived, "archived", false, "list archived threads")
				fs.StringVar(&parent, "parent", "", "only the direct children of this thread")
				fs.StringVar(&ancestor, "ancestor", "", "only the descendants of this thread, at any depth")
				fs.StringVar(&sortKey, "sort", "created", "order: created, updated or recency (newest first)")
				pageFlags(fs)
			},
			run: func(ctx context.Context, a *app, _ []string) error {
				opts := sqlitestore.ListOptions{
					Page:     sqlitestore.Page{Limit: limit, Cursor: cursor, Sort: sqlitestore.SortKey(sortKey)},
					Archived: archived,
				}
				switch sortKey {
				case "created", "updated", "recency":
				default:
					return usagef("threads list: --sort must be created, updated or recency, not %q", sortKey)
				}
				if parent != "" && ancestor != "" {
					return usagef("threads list: --parent and --ancestor are mutually exclusive")
				}
				var err error
				if parent != "" {
					if opts.Parent, err = parseID(parent); err != nil {
						return err
					}
				}
				if ancestor != "" {
					if opts.Ancestor, err = parseID(ancestor); err != nil {
						return err
					}
				}
				return a.threadsList(ctx, opts)
			},
		},
		"tree": {name: "threads tree", nargs: 1, argName: "a thread ID", run: func(ctx context.Context, a *app, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return a.threadsTree(ctx, id)
		}},
		"show": {
			name:    "threads show",
			nargs:   1,
			argName: "a thread ID",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&turns, "turns", false, "also print every turn with its items")
			},
			run: func(ctx context.Context, a *app, args []string) error {
				id, err := parseID(args[0])
				if err != nil {
					return err
				}
				return a.threadsShow(ctx, id, turns)
			},
		},
		"search": {
			name:    "threads search",
			nargs:   1,
			argName: "the TEXT to find",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&archived, "archived", false, "search archived threads only")
				fs.BoolVar(&all, "all", false, "search live and archived threads")
				fs.BoolVar(&caseSensitive, "case-sensitive", false, "match case exactly")
				pageFlags(fs)
			},
			run: func(ctx context.Context, a *app, args []string) error {
				if strings.TrimSpace(args[0]) == "" {
					return usagef("threads search: the text to find is empty")
				}
				scope := rollout.ScopeActive
				switch {
				case archived && all:
					return usagef("threads search: --archived and --all are mutually exclusive")
				case archived:
					scope = rollout.ScopeArchived
				case all:
					scope = rollout.ScopeAll
				}
				return a.threadsSearch(ctx, rollout.SearchOptions{
					Query: args[0], Scope: scope, CaseSensitive: caseSensitive, Limit: limit, Cursor: cursor,
				})
			},
		},
		"archive":   lifecycleCommand("archive", (*sqlitestore.Store).Archive),
		"unarchive": lifecycleCommand("unarchive", (*sqlitestore.Store).Unarchive),
		"delete": {name: "threads delete", nargs: 1, argName: "a thread ID", run: func(ctx context.Context, a *app, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			deleted, err := s.Delete(ctx, id)
			if err != nil {
				return err
			}
			if a.json {
				return a.writeJSON(map[string]any{"deleted": deleted})
			}
			for _, d := range deleted {
				fmt.Fprintf(a.stdout, "deleted %s\n", d)
			}
			return nil
		}},
	}
}

func lifecycleCommand(verb string, op func(*sqlitestore.Store, context.Context, rollout.ThreadID) error) *command {
	return &command{name: "threads " + verb, nargs: 1, argName: "a thread ID", run: func(ctx context.Context, a *app, args []string) error {
		id, err := parseID(args[0])
		if err != nil {
			return err
		}
		s, err := a.openStore(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := op(s, ctx, id); err != nil {
			return err
		}
		t, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		if a.json {
			return a.writeJSON(threadJSON(t))
		}
		fmt.Fprintf(a.stdout, "%sd %s (%s)\n", verb, id, t.RolloutPath)
		return nil
	}}
}

// jsonThread is a thread as --json prints it.
type jsonThread struct {
	ID             rollout.ThreadID `json:"id"`
	ParentThreadID rollout.ThreadID `json:"parent_thread_id,omitempty"`
	SessionID      rollout.ThreadID `json:"session_id,omitempty"`
	ForkedFromID   rollout.ThreadID `json:"forked_from_id,omitempty"`
	AgentPath      string           `json:"agent_path,omitempty"`
	AgentNickname  string           `json:"agent_nickname,omitempty"`
	AgentRole      string           `json:"agent_role,omitempty"`
	Title          string           `json:"title,omitempty"`
	Preview        string           `json:"preview,omitempty"`
	Name           string           `json:"name,omitempty"`
	Source         string           `json:"source"`
	ThreadSource   string           `json:"thread_source,omitempty"`
	Originator     string           `json:"originator,omitempty"`
	ModelProvider  string           `json:"model_provider,omitempty"`
	Model          string           `json:"model,omitempty"`
	Cwd            string           `json:"cwd,omitempty"`
	HistoryMode    string           `json:"history_mode,omitempty"`
	TokensUsed     int64            `json:"tokens_used"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	RecencyAt      time.Time        `json:"recency_at"`
	Archived       bool             `json:"archived"`
	ArchivedAt     *time.Time       `json:"archived_at,omitempty"`
	RolloutPath    string           `json:"rollout_path"`
}

func threadJSON(t sqlitestore.Thread) jsonThread {
	j := jsonThread{
		ID: t.ID, ParentThreadID: t.ParentThreadID, SessionID: t.SessionID, ForkedFromID: t.ForkedFromID,
		AgentPath: t.AgentPath, AgentNickname: t.AgentNickname, AgentRole: t.AgentRole,
		Title: t.Title, Preview: t.Preview, Name: t.Name, Source: t.SourceKind, ThreadSource: t.ThreadSource,
		Originator: t.Originator, ModelProvider: t.ModelProvider, Model: t.Model, Cwd: t.Cwd,
		HistoryMode: string(t.HistoryMode), TokensUsed: t.TokensUsed,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), RecencyAt: t.RecencyAt.UTC(),
		Archived: t.Archived, RolloutPath: t.RolloutPath,
	}
	if t.Archived && !t.ArchivedAt.IsZero() {
		at := t.ArchivedAt.UTC()
		j.ArchivedAt = &at
	}
	return j
}

func (a *app) threadsList(ctx context.Context, opts sqlitestore.ListOptions) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	page, err := s.List(ctx, opts)
	if err != nil {
		if errors.Is(err, sqlitestore.ErrInvalidRequest) {
			return usagef("threads list: %v", err)
		}
		return err
	}
	if a.json {
		out := struct {
			Threads []jsonThread `json:"threads"`
			Next    string       `json:"next,omitempty"`
		}{Threads: []jsonThread{}, Next: page.Next}
		for _, t := range page.Threads {
			out.Threads = append(out.Threads, threadJSON(t))
		}
		return a.writeJSON(out)
	}
	if len(page.Threads) == 0 {
		fmt.Fprintln(a.stdout, "no threads")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSOURCE\tAGENT\tPARENT\tTITLE")
	for _, t := range page.Threads {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.CreatedAt.UTC().Format("2006-01-02 15:04"),
			dash(t.SourceKind), dash(t.AgentPath), dash(string(t.ParentThreadID)), clip(oneLine(titleOf(t)), 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(a.stdout, "more: --cursor %s\n", page.Next)
	}
	return nil
}

func (a *app) threadsSearch(ctx context.Context, opts rollout.SearchOptions) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	page, err := s.Search(ctx, opts)
	if err != nil {
		if errors.Is(err, rollout.ErrBadCursor) {
			return usagef("threads search: %v", err)
		}
		return err
	}
	type hit struct {
		ThreadID   rollout.ThreadID `json:"thread_id"`
		Path       string           `json:"rollout_path"`
		Archived   bool             `json:"archived"`
		Compressed bool             `json:"compressed"`
		Line       int              `json:"line"`
		Snippet    string           `json:"snippet"`
		Thread     *jsonThread      `json:"thread,omitempty"`
	}
	hits := []hit{}
	for _, r := range page.Hits {
		h := hit{ThreadID: r.ThreadID, Path: r.Path, Archived: r.Archived, Compressed: r.Compressed, Line: r.Line, Snippet: r.Snippet}
		if r.Thread.ID != "" {
			j := threadJSON(r.Thread)
			h.Thread = &j
		}
		hits = append(hits, h)
	}
	for _, e := range page.Errors {
		fmt.Fprintf(a.stderr, "troupe: search: %v\n", e)
	}
	if a.json {
		return a.writeJSON(struct {
			Results []hit  `json:"results"`
			Next    string `json:"next,omitempty"`
		}{hits, page.Next})
	}
	if len(hits) == 0 {
		fmt.Fprintf(a.stdout, "no thread contains %q\n", opts.Query)
		return nil
	}
	for _, h := range hits {
		label := ""
		if h.Thread != nil {
			label = h.Thread.AgentPath
			if label == "" {
				label = clip(oneLine(h.Thread.Title), 50)
			}
		}
		form := ""
		if h.Compressed {
			form = " (compressed)"
		}
		fmt.Fprintf(a.stdout, "%s  %s%s\n    line %d: %s\n", h.ThreadID, label, form, h.Line, h.Snippet)
	}
	if page.Next != "" {
		fmt.Fprintf(a.stdout, "more: --cursor %s\n", page.Next)
	}
	return nil
}

func titleOf(t sqlitestore.Thread) string {
	switch {
	case t.Name != "":
		return t.Name
	case t.Title != "":
		return t.Title
	}
	return t.Preview
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine collapses white space so a text fits on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
