package control

import (
	"context"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// EdgeStore is the part of the SQLite thread index that holds spawn edges.
// *sqlitestore.Index and *sqlitestore.Store implement it.
type EdgeStore interface {
	RecordEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error
	SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error
	SpawnChildren(ctx context.Context, parent rollout.ThreadID, status string) ([]sqlitestore.Edge, error)
}

var (
	_ EdgeStore = (*sqlitestore.Index)(nil)
	_ EdgeStore = (*sqlitestore.Store)(nil)
)

// SQLiteIndex adapts the SQLite thread index (rollout/sqlitestore, its
// Index or its Store) to Index: spawn edges go to its thread_spawn_edges
// table, so Children, Descendants and the CLI see the tree. With
// Config.Store the runtime uses it on the Store by itself.
func SQLiteIndex(ix EdgeStore) Index { return sqliteIndex{ix} }

type sqliteIndex struct{ ix EdgeStore }

func (s sqliteIndex) UpsertEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error {
	return s.ix.RecordEdge(ctx, parent, child, status)
}

func (s sqliteIndex) SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error {
	return s.ix.SetEdgeStatus(ctx, child, status)
}

func (s sqliteIndex) ChildEdges(ctx context.Context, parent rollout.ThreadID) ([]Edge, error) {
	es, err := s.ix.SpawnChildren(ctx, parent, "")
	if err != nil {
		return nil, err
	}
	out := make([]Edge, len(es))
	for i, e := range es {
		out[i] = Edge{Parent: e.Parent, Child: e.Child, Status: e.Status}
	}
	return out, nil
}
