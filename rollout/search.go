package rollout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// Search limits.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 1000
	// DefaultSearchMaxLineSize bounds one line while searching; a longer
	// line is skipped (not searched), so a huge tool output cannot make a
	// search hold it in memory.
	DefaultSearchMaxLineSize = 8 << 20
)

// ErrEmptyQuery is matched (errors.Is) by a search without a query.
var ErrEmptyQuery = errors.New("rollout: empty search query")

// ErrBadCursor is matched (errors.Is) by a search given a cursor it did
// not produce.
var ErrBadCursor = errors.New("rollout: invalid search cursor")

// Scope says which rollouts a search covers.
type Scope int

// Scopes. The zero value searches live threads only, as Codex does.
const (
	ScopeActive   Scope = iota // sessions/
	ScopeArchived              // archived_sessions/
	ScopeAll                   // both
)

// SearchOptions configure Search.
type SearchOptions struct {
	// Query is the text to find, literally. Required.
	Query string
	// Scope selects live, archived or all rollouts.
	Scope Scope
	// CaseSensitive turns off the default case-insensitive match.
	CaseSensitive bool
	// Limit bounds the results of a page: 0 means DefaultSearchLimit, and
	// more than MaxSearchLimit means MaxSearchLimit.
	Limit int
	// Cursor continues after the page that returned it as Next; empty
	// starts at the newest rollout.
	Cursor string
	// MaxLineSize bounds a line (see DefaultSearchMaxLineSize).
	MaxLineSize int
	// Parallelism bounds the files searched at once; 0 means GOMAXPROCS.
	Parallelism int
}

// SearchResult is one rollout that contains the query.
type SearchResult struct {
	// ThreadID and Path (the logical .jsonl path, whatever the physical
	// form) key the result: an index joins its metadata on either.
	ThreadID ThreadID
	Path     string
	Archived bool
	// Compressed is true when the match was found in the .zst form.
	Compressed bool
	// Line is the 1-based line of the first match.
	Line int
	// Snippet is the text around the first match in conversation text
	// (user and assistant messages), whitespace collapsed, about 48
	// characters before and 96 after, with "... " and " ..." marking cuts.
	// When the query only occurs elsewhere (tool output, metadata), it is
	// cut from the first matching line as written (JSON-escaped).
	Snippet string
}

// SearchPage is one page of results, newest rollout first (by the
// creation stamp in the file name).
type SearchPage struct {
	Results []SearchResult
	// Next is the cursor of the next page, or empty after the last.
	Next string
	// Errors lists rollouts that could not be searched (unreadable, or a
	// corrupt .zst); the search goes on without them.
	Errors []error
}

// Search finds the rollouts under home whose content contains the query,
// plain and compressed alike. Each file is read once: a .zst is
// stream-decoded and scanned in the same pass that finds the match and
// cuts the snippet, and the scan stops at the first snippet. Matching is
// on the raw lines, with the query JSON-escaped as it appears in them.
// Cancelling ctx stops the search and returns ctx's error.
func Search(ctx context.Context, home string, opts SearchOptions) (SearchPage, error) {
	m, err := newMatcher(opts.Query, opts.CaseSensitive)
	if err != nil {
		return SearchPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	after, err := parseCursor(opts.Cursor)
	if err != nil {
		return SearchPage{}, err
	}
	files, err := listRollouts(ctx, home, opts.Scope)
	if err != nil {
		return SearchPage{}, err
	}
	if after != "" {
		i := slices.IndexFunc(files, func(f rolloutFile) bool { return f.name < after })
		if i < 0 {
			i = len(files)
		}
		files = files[i:]
	}
	workers := opts.Parallelism
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	maxLine := opts.MaxLineSize
	if maxLine <= 0 {
		maxLine = DefaultSearchMaxLineSize
	}
	// One decoder per worker slot, reused across files; the channel
	// holds exactly the slots.
	decs := make(chan *zstd.Decoder, workers)
	for range workers {
		decs <- nil
	}
	defer func() {
		for range workers {
			if d := <-decs; d != nil {
				d.Close()
			}
		}
	}()
	var page SearchPage
	window := workers * 4 // files searched per round: bounds wasted work past the limit
	for start := 0; start < len(files); start += window {
		batch := files[start:min(start+window, len(files))]
		type outcome struct {
			res   SearchResult
			found bool
			err   error
		}
		outs := make([]outcome, len(batch))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(workers)
		for i, f := range batch {
			g.Go(func() error {
				dec := <-decs
				defer func() { decs <- dec }()
				res, found, err := m.searchFile(gctx, f, &dec, maxLine)
				if err != nil && gctx.Err() != nil {
					return gctx.Err()
				}
				outs[i] = outcome{res, found, err}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return SearchPage{}, err
		}
		if err := ctx.Err(); err != nil {
			return SearchPage{}, err
		}
		for i, o := range outs {
			if o.err != nil {
				page.Errors = append(page.Errors, o.err)
			}
			if !o.found {
				continue
			}
			page.Results = append(page.Results, o.res)
			if len(page.Results) == limit {
				if start+i+1 < len(files) {
					page.Next = cursorFor(batch[i].name)
				}
				return page, nil
			}
		}
	}
	return page, nil
}

// SearchFile searches one rollout (logical or physical path, either
// form) as Search does, and reports whether it matched.
func SearchFile(ctx context.Context, path string, opts SearchOptions) (SearchResult, bool, error) {
	m, err := newMatcher(opts.Query, opts.CaseSensitive)
	if err != nil {
		return SearchResult{}, false, err
	}
	maxLine := opts.MaxLineSize
	if maxLine <= 0 {
		maxLine = DefaultSearchMaxLineSize
	}
	plain := PlainPath(path)
	fi, _ := ParseFileName(plain)
	f := rolloutFile{name: filepath.Base(plain), path: path, id: fi.ID}
	f.archived = filepath.Base(filepath.Dir(plain)) == ArchivedDir
	var dec *zstd.Decoder
	defer func() {
		if dec != nil {
			dec.Close()
		}
	}()
	return m.searchFile(ctx, f, &dec, maxLine)
}

// rolloutFile is a rollout found by listRollouts.
type rolloutFile struct {
	name     string // logical base name: the sort key
	path     string // physical path when listed
	id       ThreadID
	archived bool
}

// listRollouts lists the rollouts of scope, one per thread (the plain form
// over the .zst, a live copy over an archived one), newest name first.
func listRollouts(ctx context.Context, home string, scope Scope) ([]rolloutFile, error) {
	var roots []string
	switch scope {
	case ScopeActive:
		roots = []string{SessionsDir}
	case ScopeArchived:
		roots = []string{ArchivedDir}
	case ScopeAll:
		roots = []string{SessionsDir, ArchivedDir}
	default:
		return nil, fmt.Errorf("rollout: search: unknown scope %d", scope)
	}
	seen := map[string]int{} // logical name -> index in out
	var out []rolloutFile
	for _, r := range roots {
		root := filepath.Join(home, r)
		archived := r == ArchivedDir
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return nil // unreadable directory: skipped
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, perr := ParseFileName(d.Name())
			if perr != nil {
				return nil
			}
			name := filepath.Base(PlainPath(d.Name()))
			if i, ok := seen[name]; ok {
				// The plain form wins over the .zst in the same dir; the
				// first root (live) wins over archived.
				if out[i].archived == archived && !fi.Compressed {
					out[i].path = p
				}
				return nil
			}
			seen[name] = len(out)
			out = append(out, rolloutFile{name: name, path: p, id: fi.ID, archived: archived})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b rolloutFile) int { return strings.Compare(b.name, a.name) })
	return out, nil
}

// cursorPrefix versions the cursor format.
const cursorPrefix = "n1:"

func cursorFor(name string) string { return cursorPrefix + name }

func parseCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	name, ok := strings.CutPrefix(c, cursorPrefix)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	if _, err := ParseFileName(name); err != nil {
		return "", fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return name, nil
}

// searchFile searches one listed rollout. *dec is the slot's decoder,
// created on first use. A file that moved or changed form since it was
// listed is looked up again by its logical path; one that is gone is no
// match.
func (m *matcher) searchFile(ctx context.Context, f rolloutFile, dec **zstd.Decoder, maxLine int) (SearchResult, bool, error) {
	plain := filepath.Join(filepath.Dir(PlainPath(f.path)), f.name)
	for attempt := 0; ; attempt++ {
		phys := f.path
		if attempt > 0 {
			var err error
			phys, _, err = ResolvePath(plain)
			if errors.Is(err, fs.ErrNotExist) {
				return SearchResult{}, false, nil
			}
			if err != nil {
				return SearchResult{}, false, err
			}
		}
		file, err := os.Open(phys)
		if errors.Is(err, fs.ErrNotExist) && attempt < 2 {
			continue // compressed, materialized or moved meanwhile
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return SearchResult{}, false, nil
			}
			return SearchResult{}, false, fmt.Errorf("rollout: search %s: %w", phys, err)
		}
		res := SearchResult{ThreadID: f.id, Path: plain, Archived: f.archived, Compressed: phys != plain}
		var src interface{ Read([]byte) (int, error) } = file
		if res.Compressed {
			if *dec == nil {
				d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
				if err != nil {
					file.Close()
					return SearchResult{}, false, fmt.Errorf("rollout: search: %w", err)
				}
				*dec = d
			}
			if err := (*dec).Reset(file); err != nil {
				file.Close()
				return SearchResult{}, false, fmt.Errorf("rollout: search %s: %w", phys, err)
			}
			src = *dec
		}
		found, err := m.scan(ctx, &ctxReader{ctx: ctx, r: src}, maxLine, &res)
		if res.Compressed {
			(*dec).Reset(nil) // drop the file
		}
		file.Close()
		if err != nil {
			return SearchResult{}, false, fmt.Errorf("rollout: search %s: %w", phys, err)
		}
		return res, found, nil
	}
}
