package sqlitestore

import (
	"context"
	"errors"

	"github.com/troupe-run/troupe/rollout"
)

// SearchHit is one rollout that contains the query, joined with its index
// row.
type SearchHit struct {
	rollout.SearchResult
	// Thread is the thread's index row; zero (Thread.ID == "") when the
	// index has no row for it (a rollout written since the last rebuild by
	// another program, say).
	Thread Thread
}

// SearchPage is one page of search hits; Next continues it, "" at the end.
// Errors lists rollouts that could not be searched.
type SearchPage struct {
	Hits   []SearchHit
	Next   string
	Errors []error
}

// Search finds the threads of the home whose rollouts contain the query
// (plain and compressed alike, one pass per file: see rollout.Search) and
// joins each hit with its index row by thread id.
func (s *Store) Search(ctx context.Context, opts rollout.SearchOptions) (SearchPage, error) {
	if err := s.checkOpen(); err != nil {
		return SearchPage{}, err
	}
	page, err := rollout.Search(ctx, s.home, opts)
	if err != nil {
		return SearchPage{}, err
	}
	out := SearchPage{Hits: make([]SearchHit, 0, len(page.Results)), Next: page.Next, Errors: page.Errors}
	for _, r := range page.Results {
		t, err := s.ix.Get(ctx, r.ThreadID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return SearchPage{}, err
		}
		out.Hits = append(out.Hits, SearchHit{SearchResult: r, Thread: t})
	}
	return out, nil
}
