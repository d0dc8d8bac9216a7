package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := Open(context.Background(), Config{Home: t.TempDir()})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		return adapter{s}
	})
}

// adapter presents a *Store as a storetest.Store.
type adapter struct{ s *Store }

// mapErr wraps err with the storetest sentinel it corresponds to.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ ours, theirs error }{
		{ErrNotFound, storetest.ErrNotFound},
		{ErrInvalidCursor, storetest.ErrInvalidCursor},
		{ErrInvalidRequest, storetest.ErrInvalidRequest},
		{ErrLive, storetest.ErrLive},
	} {
		if errors.Is(err, m.ours) {
			err = fmt.Errorf("%w: %w", m.theirs, err)
		}
	}
	return err
}

func conv(t Thread) storetest.Thread {
	return storetest.Thread{ID: t.ID, RolloutPath: t.RolloutPath, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, RecencyAt: t.RecencyAt,
		SourceKind: t.SourceKind, ModelProvider: t.ModelProvider, Model: t.Model, Cwd: t.Cwd, Title: t.Title, Preview: t.Preview,
		AgentPath: t.AgentPath, SessionID: t.SessionID, HistoryMode: t.HistoryMode, Archived: t.Archived, ArchivedAt: t.ArchivedAt,
		TokensUsed: t.TokensUsed, ParentThreadID: t.ParentThreadID, ForkedFromID: t.ForkedFromID}
}

func convPage(p ThreadPage, err error) (storetest.ThreadPage, error) {
	out := storetest.ThreadPage{Next: p.Next}
	for _, t := range p.Threads {
		out.Threads = append(out.Threads, conv(t))
	}
	return out, mapErr(err)
}

func page(p storetest.Page) Page {
	return Page{Limit: p.Limit, Cursor: p.Cursor, Sort: SortKey(p.Sort)}
}

func convEdges(es []Edge, err error) ([]storetest.Edge, error) {
	var out []storetest.Edge
	for _, e := range es {
		out = append(out, storetest.Edge{Parent: e.Parent, Child: e.Child, Status: e.Status})
	}
	return out, mapErr(err)
}

type writerAdapter struct{ w *Writer }

func (w writerAdapter) ID() rollout.ThreadID               { return w.w.ID() }
func (w writerAdapter) Append(ps ...rollout.Payload) error { return mapErr(w.w.Append(ps...)) }
func (w writerAdapter) Flush(ctx context.Context) error    { return mapErr(w.w.Flush(ctx)) }
func (w writerAdapter) Close() error                       { return mapErr(w.w.Close()) }
func (a adapter) Close() error                             { return a.s.Close() }
func (a adapter) Archive(ctx context.Context, id rollout.ThreadID) error {
	return mapErr(a.s.Archive(ctx, id))
}
func (a adapter) Unarchive(ctx context.Context, id rollout.ThreadID) error {
	return mapErr(a.s.Unarchive(ctx, id))
}

func (a adapter) Create(ctx context.Context, meta rollout.SessionMeta) (storetest.Writer, error) {
	w, err := a.s.Create(ctx, CreateOptions{Meta: meta})
	if err != nil {
		return nil, mapErr(err)
	}
	return writerAdapter{w}, nil
}

func (a adapter) Resume(ctx context.Context, id rollout.ThreadID) (storetest.Writer, error) {
	w, err := a.s.Resume(ctx, id)
	if err != nil {
		return nil, mapErr(err)
	}
	return writerAdapter{w}, nil
}

func (a adapter) Get(ctx context.Context, id rollout.ThreadID) (storetest.Thread, error) {
	t, err := a.s.Get(ctx, id)
	return conv(t), mapErr(err)
}

func (a adapter) Read(ctx context.Context, id rollout.ThreadID) (storetest.Thread, []rollout.Item, error) {
	d, err := a.s.Read(ctx, id)
	return conv(d.Thread), d.Items, mapErr(err)
}

func (a adapter) List(ctx context.Context, o storetest.ListOptions) (storetest.ThreadPage, error) {
	return convPage(a.s.List(ctx, ListOptions{Page: page(o.Page), Archived: o.Archived, SourceKinds: o.SourceKinds,
		Providers: o.Providers, Cwds: o.Cwds, Parent: o.Parent, Ancestor: o.Ancestor}))
}

func (a adapter) Children(ctx context.Context, id rollout.ThreadID, p storetest.Page) (storetest.ThreadPage, error) {
	return convPage(a.s.Children(ctx, id, page(p)))
}

func (a adapter) Descendants(ctx context.Context, id rollout.ThreadID, p storetest.Page) (storetest.ThreadPage, error) {
	return convPage(a.s.Descendants(ctx, id, page(p)))
}

func (a adapter) Delete(ctx context.Context, id rollout.ThreadID) ([]rollout.ThreadID, error) {
	ids, err := a.s.Delete(ctx, id)
	return ids, mapErr(err)
}

func (a adapter) Fork(ctx context.Context, id rollout.ThreadID, lastTurns int) (rollout.ThreadID, error) {
	w, err := a.s.Fork(ctx, id, ForkOptions{LastTurns: lastTurns})
	if err != nil {
		return "", mapErr(err)
	}
	return w.ID(), mapErr(w.Close())
}

func (a adapter) RecordEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error {
	return mapErr(a.s.RecordEdge(ctx, parent, child, status))
}

func (a adapter) SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error {
	return mapErr(a.s.SetEdgeStatus(ctx, child, status))
}

func (a adapter) SpawnChildren(ctx context.Context, parent rollout.ThreadID, status string) ([]storetest.Edge, error) {
	return convEdges(a.s.SpawnChildren(ctx, parent, status))
}

func (a adapter) SpawnDescendants(ctx context.Context, root rollout.ThreadID, status string) ([]storetest.Edge, error) {
	return convEdges(a.s.SpawnDescendants(ctx, root, status))
}

func (a adapter) Rebuild(ctx context.Context) error {
	_, err := a.s.Rebuild(ctx)
	return mapErr(err)
}
