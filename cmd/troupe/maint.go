package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

func compressCommand() *command {
	var (
		olderThan time.Duration
		dryRun    bool
	)
	return &command{
		name: "compress",
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&olderThan, "older-than", rollout.DefaultColdAfter, "compress rollouts not modified for this long")
			fs.BoolVar(&dryRun, "dry-run", false, "only report what would be compressed")
		},
		run: func(ctx context.Context, a *app, _ []string) error {
			if olderThan < 0 {
				return usagef("compress: --older-than must not be negative")
			}
			return a.compress(ctx, olderThan, dryRun)
		},
	}
}

func (a *app) compress(ctx context.Context, olderThan time.Duration, dryRun bool) error {
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	if olderThan == 0 {
		// The compactor reads 0 as its default; "compress everything"
		// is the smallest age instead.
		olderThan = time.Nanosecond
	}
	p := a.newProgress("compress")
	seen := 0
	c, err := rollout.NewCompactor(rollout.CompactorConfig{
		Home:           home,
		ColdAfter:      olderThan,
		IgnoreThrottle: true, // asked for by hand: a recent run does not block it
		DryRun:         dryRun,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Progress: func(r rollout.FileResult) {
			seen++
			p.set(seen, -1)
			if !a.json && !a.terminal && (r.Outcome == rollout.OutcomeCompressed || r.Outcome == rollout.OutcomeWouldCompress || r.Outcome == rollout.OutcomeFailed) {
				fmt.Fprintf(a.stderr, "%s %s\n", r.Outcome, r.Path)
			}
		},
	})
	if err != nil {
		return err
	}
	rep, err := c.Run(ctx)
	p.finish()
	if err != nil {
		return err
	}
	if a.json {
		failures := []map[string]string{}
		for _, f := range rep.Failures {
			failures = append(failures, map[string]string{"path": f.Path, "error": fmt.Sprint(f.Err)})
		}
		return a.writeJSON(map[string]any{
			"status": rep.Status, "dry_run": dryRun, "scanned": rep.Scanned, "compressed": rep.Compressed,
			"would_compress": rep.WouldCompress, "skipped": rep.Skipped, "failed": rep.Failed,
			"source_bytes": rep.SourceBytes, "compressed_bytes": rep.CompressedBytes,
			"temps_removed": rep.TempsRemoved, "failures": failures, "duration_ms": rep.Duration.Milliseconds(),
		})
	}
	switch {
	case rep.Status == rollout.RunSkippedDuplicate:
		fmt.Fprintln(a.stdout, "another compression run is in progress; nothing done")
	case dryRun:
		fmt.Fprintf(a.stdout, "would compress %d of %d rollouts (%s)\n", rep.WouldCompress, rep.Scanned, byteCount(rep.SourceBytes))
	default:
		ratio := ""
		if rep.CompressedBytes > 0 {
			ratio = fmt.Sprintf(", %.1fx smaller", float64(rep.SourceBytes)/float64(rep.CompressedBytes))
		}
		fmt.Fprintf(a.stdout, "compressed %d of %d rollouts: %s → %s%s; %d skipped, %d failed\n",
			rep.Compressed, rep.Scanned, byteCount(rep.SourceBytes), byteCount(rep.CompressedBytes), ratio, rep.Skipped, rep.Failed)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(a.stderr, "troupe: compress %s: %v\n", f.Path, f.Err)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d rollouts could not be compressed (their plain files are kept)", rep.Failed)
	}
	return nil
}

func rebuildCommand() *command {
	return &command{name: "index rebuild", run: func(ctx context.Context, a *app, _ []string) error {
		home, err := a.homeDir()
		if err != nil {
			return err
		}
		p := a.newProgress("index rebuild")
		cfg := sqlitestore.Config{
			Home:     home,
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Progress: func(rp sqlitestore.RebuildProgress) { p.set(rp.Done, rp.Total) },
		}
		ix, err := sqlitestore.OpenIndex(ctx, cfg)
		if err != nil {
			p.finish()
			return err
		}
		defer ix.Close()
		if r := ix.Recovery(); r != nil {
			fmt.Fprintf(a.stderr, "troupe: the index %s was corrupt (%v); moved it to %s\n", r.DBPath, r.Cause, r.BackupDir)
		}
		res, err := ix.Rebuild(ctx)
		p.finish()
		if err != nil {
			return err
		}
		if a.json {
			skipped := []map[string]string{}
			for _, s := range res.Skipped {
				skipped = append(skipped, map[string]string{"path": s.Path, "error": fmt.Sprint(s.Err)})
			}
			return a.writeJSON(map[string]any{
				"index": ix.Path(), "threads": res.Threads, "removed": res.Removed,
				"corrupt_lines": res.CorruptLines, "skipped": skipped,
			})
		}
		fmt.Fprintf(a.stdout, "rebuilt %s: %d threads", ix.Path(), res.Threads)
		if res.Removed > 0 {
			fmt.Fprintf(a.stdout, ", %d stale rows removed", res.Removed)
		}
		if res.CorruptLines > 0 {
			fmt.Fprintf(a.stdout, ", %d corrupt lines skipped", res.CorruptLines)
		}
		fmt.Fprintln(a.stdout)
		for _, s := range res.Skipped {
			fmt.Fprintf(a.stderr, "troupe: skipped %s: %v\n", s.Path, s.Err)
		}
		return nil
	}}
}

// byteCount renders a size in B, KiB or MiB.
func byteCount(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
