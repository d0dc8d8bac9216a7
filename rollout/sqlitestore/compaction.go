package sqlitestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/troupe-run/troupe/rollout"
)

// ErrCompactionDisabled is returned by RunCompaction when the store was
// opened without Config.Compaction.
var ErrCompactionDisabled = errors.New("sqlitestore: cold compression not enabled (Config.Compaction is nil)")

// RunCompaction runs one cold-compression pass over the store's home with
// the Compaction config it was opened with (rollout.Compactor: run marker,
// at most two files in flight, verification, the per-thread lock so live
// writers are never disturbed) and blocks until it is done or ctx ends; on
// cancellation it waits for the files in flight. Run it in a goroutine you
// own and stop it by cancelling ctx before Close. Logical paths in the index
// are unaffected: they always name the .jsonl form.
func (s *Store) RunCompaction(ctx context.Context) (rollout.RunReport, error) {
	if err := s.checkOpen(); err != nil {
		return rollout.RunReport{}, err
	}
	if s.cfg.Compaction == nil {
		return rollout.RunReport{}, ErrCompactionDisabled
	}
	cfg := *s.cfg.Compaction
	cfg.Home = s.home
	if cfg.Clock == nil {
		cfg.Clock = s.cfg.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = s.cfg.Logger
	}
	c, err := rollout.NewCompactor(cfg)
	if err != nil {
		return rollout.RunReport{}, fmt.Errorf("sqlitestore: compaction: %w", err)
	}
	return c.Run(ctx)
}
