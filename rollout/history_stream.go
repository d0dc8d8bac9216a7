package rollout

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
)

// This file reconstructs a thread's history while streaming its rollout
// once, holding only what survives: StreamHistory gives the same result as
// ReconstructHistory on the items read, without the items.
//
// It rests on one observation: replaying every record forwards (not only
// those after the base compaction) leaves the same model history, because
// a compacted record with a replacement history replaces the history
// whole, so what came before the base is gone once the base is replayed.
// The forward replay holds the live history at each point (reset at each
// compaction), never the file. The backward, turn-by-turn decisions
// (rollbacks, the base, the window, the reference turn_context, the
// surviving world-state records) are taken afterwards on a skeleton of
// the rollout: a few small records per turn (turn ids, offsets, flags),
// never payloads. The turn_context and world-state records they select
// are then read again at their offsets.

// skelKind is what a skeleton record stands for.
type skelKind uint8

const (
	skCompacted skelKind = iota + 1
	skRollback
	skTurnEnd     // turn_complete or turn_aborted
	skUserEvent   // user_message event
	skTurnStarted // task_started
	skTurnContext
	skWorldState
	skUserTurn // a user-turn boundary response item or an inter-agent item
)

// skelRec is one record of the skeleton.
type skelRec struct {
	kind   skelKind
	repl   bool // skCompacted: has a replacement history
	turnID string
	n      uint64  // skRollback: turns dropped
	idx    int     // item index (valid items, in file order)
	off    int64   // byte offset of the line (decompressed for .zst)
	win    *Window // skCompacted: its window, when numbered
}

// skelSeg is one turn's worth of skeleton records while scanning
// backwards (ReconstructHistory's segment).
type skelSeg struct {
	turnID   string
	userTurn bool
	ctx      int // skeleton index of its turn_context, -1
	cleared  bool
	world    []int // skeleton indices, newest first
	base     int   // item index of its newest compaction with replacement history, -1
	window   *Window
}

// StreamHistory reads the rollout at path once, forwards, and returns
// what ReconstructHistory returns for its items, holding the live history
// and a small skeleton of the turns rather than the items. Its memory is
// the largest history live at any point of the thread (what one stretch
// between compactions, or the whole thread without compaction, leaves,
// which Codex keeps within a context window by compacting) plus about
// 60 bytes per turn record, never the file. The selected turn_context
// (unless it is the newest) and world-state records are read again at
// their offsets: a seek for a plain file; for a .zst rollout, a second
// decompression up to the last of them. visit, when not nil,
// sees every item in file order (it must not keep it if memory matters).
// Corrupt lines are skipped and returned in the slice (each a
// *CorruptError); any other read error fails the load.
func StreamHistory(path string, visit func(Item)) (*History, []error, error) {
	var corrupt []error
	h := &History{}
	var (
		sk         []skelRec
		lastCtxOff int64 = -1
		lastLegacy       = -1 // item index of the newest legacy compaction
		hist       []*ResponseItem
		usageAt    int
		n          int
		lastTurnID string // shared by a turn's records (one string per turn)
	)
	intern := func(id string) string {
		if id == lastTurnID {
			return lastTurnID
		}
		lastTurnID = id
		return id
	}
	var off int64
	for it, err := range readWithOffsets(path, &off) {
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				corrupt = append(corrupt, err)
				continue
			}
			return nil, corrupt, err
		}
		idx := n
		n++
		if visit != nil {
			visit(it)
		}
		switch p := it.Payload.(type) {
		case *SessionMeta:
			if h.Meta == nil {
				h.Meta = p
				if !p.Mode().Known() {
					return nil, corrupt, fmt.Errorf("%w %q (thread %s)", ErrUnsupportedHistoryMode, p.HistoryMode, p.ID)
				}
			}
		case *ResponseItem:
			if IsUserTurnBoundary(p) {
				sk = append(sk, skelRec{kind: skUserTurn, idx: idx, off: off})
			}
			if p.Type == ItemGhostSnapshot || p.Type == ItemCompactionTrigger {
				continue
			}
			hist = append(hist, p)
		case *InterAgentCommunication:
			sk = append(sk, skelRec{kind: skUserTurn, idx: idx, off: off})
			hist = append(hist, p.AgentMessage())
		case *Compacted:
			h.Compactions++
			r := skelRec{kind: skCompacted, repl: p.ReplacementHistory != nil, idx: idx, off: off}
			if p.WindowNumber != nil {
				r.win = &Window{Number: *p.WindowNumber, FirstID: p.FirstWindowID, PreviousID: p.PreviousWindowID, ID: p.WindowID}
			}
			sk = append(sk, r)
			h.TokenUsage = nil
			if p.ReplacementHistory != nil {
				hist = hist[:0:0]
				for j := range p.ReplacementHistory {
					if p.ReplacementHistory[j].Type != ItemGhostSnapshot {
						hist = append(hist, &p.ReplacementHistory[j])
					}
				}
				continue
			}
			lastLegacy = idx
			hist = BuildCompactedHistory(hist, p.Message)
		case *TurnContext:
			h.LastTurnContext, lastCtxOff = p, off
			sk = append(sk, skelRec{kind: skTurnContext, turnID: intern(p.TurnID), idx: idx, off: off})
		case *WorldState:
			sk = append(sk, skelRec{kind: skWorldState, idx: idx, off: off})
		case *EventMsg:
			switch {
			case p.Is(EventThreadRolledBack):
				var rb ThreadRolledBack
				if p.Decode(&rb) == nil {
					sk = append(sk, skelRec{kind: skRollback, n: uint64(rb.NumTurns), idx: idx, off: off})
					hist = DropLastUserTurns(hist, int(rb.NumTurns))
					h.TokenUsage = nil
				}
			case p.Is(EventTokenCount):
				var tc TokenCount
				if p.Decode(&tc) == nil && tc.Info != nil {
					h.TokenUsage, usageAt = tc.Info, len(hist)
				}
			case p.Is(EventTurnComplete), p.Is(EventTurnAborted):
				sk = append(sk, skelRec{kind: skTurnEnd, turnID: intern(p.TurnID), idx: idx, off: off})
			case p.Is(EventUserMessage):
				sk = append(sk, skelRec{kind: skUserEvent, idx: idx, off: off})
			case p.Is(EventTurnStarted):
				sk = append(sk, skelRec{kind: skTurnStarted, turnID: intern(p.TurnID), idx: idx, off: off})
			}
		}
	}
	if h.Meta == nil {
		return nil, corrupt, fmt.Errorf("%w: cannot reconstruct history", ErrNoSessionMeta)
	}
	h.Items = hist
	if h.TokenUsage != nil {
		h.ItemsAfterUsage = len(hist) - usageAt
	}

	base, window, refCtx, world := skeletonDecisions(sk)
	legacyWindowless := false
	for i := range sk {
		if sk[i].kind == skCompacted && sk[i].win == nil {
			legacyWindowless = true
			break
		}
	}
	switch {
	case window != nil:
		h.Window = *window
	case !legacyWindowless && h.Meta.ContextWindow != nil:
		h.Window = Window{FirstID: h.Meta.ContextWindow.WindowID, ID: h.Meta.ContextWindow.WindowID}
	default:
		h.Window = Window{Number: uint64(h.Compactions)}
	}

	// Read again what the decisions selected: the world-state records and,
	// unless it is the newest one (already held), the turn_context.
	offs := make([]int64, 0, len(world)+1)
	for _, i := range world {
		offs = append(offs, sk[i].off)
	}
	sawLegacy := lastLegacy > base
	wantCtx := !sawLegacy && refCtx >= 0 && sk[refCtx].off != lastCtxOff
	if wantCtx {
		offs = append(offs, sk[refCtx].off)
	}
	got, err := readAtOffsets(path, offs)
	if err != nil {
		return nil, corrupt, err
	}
	if wantCtx {
		tc, ok := got[len(got)-1].Payload.(*TurnContext)
		if !ok {
			return nil, corrupt, fmt.Errorf("rollout: %s changed while it was read (no turn_context at offset %d)", path, sk[refCtx].off)
		}
		h.TurnContext = tc
		got = got[:len(got)-1]
	} else if !sawLegacy && refCtx >= 0 {
		h.TurnContext = h.LastTurnContext
	}
	if len(got) > 0 {
		h.WorldState = got
	}
	return h, corrupt, nil
}

// skeletonDecisions scans the skeleton backwards by turn as
// ReconstructHistory scans the items, and returns the item index of the
// base compaction (-1 if none), the window of the newest surviving
// numbered compaction (nil if none), the skeleton index of the reference
// turn_context (-1 if none or cleared) and the skeleton indices of the
// surviving world-state records in file order, from the newest surviving
// compacted record on.
func skeletonDecisions(sk []skelRec) (base int, window *Window, refCtx int, world []int) {
	base, refCtx = -1, -1
	var (
		refSet      bool
		worldRev    []int
		pendingRoll uint64
		cur         *skelSeg
	)
	finalize := func() {
		s := cur
		cur = nil
		if s == nil {
			return
		}
		if pendingRoll > 0 {
			if s.userTurn {
				pendingRoll--
			}
			return
		}
		worldRev = append(worldRev, s.world...)
		if base < 0 && s.base >= 0 {
			base = s.base
		}
		if window == nil {
			window = s.window
		}
		if !refSet && (s.userTurn && s.ctx >= 0 || s.cleared) {
			refSet = true
			refCtx = s.ctx
		}
	}
	seg := func() *skelSeg {
		if cur == nil {
			cur = &skelSeg{ctx: -1, base: -1}
		}
		return cur
	}
	for i := len(sk) - 1; i >= 0; i-- {
		r := &sk[i]
		switch r.kind {
		case skCompacted:
			s := seg()
			s.world = append(s.world, i)
			if s.window == nil && r.win != nil {
				s.window = r.win
			}
			if s.ctx < 0 {
				s.cleared = true
			}
			if s.base < 0 && r.repl {
				s.base = r.idx
			}
		case skRollback:
			pendingRoll += r.n
		case skTurnEnd:
			if s := seg(); s.turnID == "" {
				s.turnID = r.turnID
			}
		case skUserEvent, skUserTurn:
			seg().userTurn = true
		case skTurnStarted:
			if cur != nil && (cur.turnID == "" || cur.turnID == r.turnID) {
				finalize()
			}
		case skTurnContext:
			s := seg()
			if s.turnID == "" {
				s.turnID = r.turnID
			}
			if s.turnID == "" || r.turnID == "" || s.turnID == r.turnID {
				if s.ctx < 0 && !s.cleared {
					s.ctx = i
				}
			}
		case skWorldState:
			s := seg()
			s.world = append(s.world, i)
		}
	}
	finalize()
	// Keep from the newest surviving compacted record on (it clears the
	// world state on replay), in file order.
	for k, i := range worldRev {
		if sk[i].kind == skCompacted {
			worldRev = worldRev[:k+1]
			break
		}
	}
	world = make([]int, len(worldRev))
	for k, i := range worldRev {
		world[len(worldRev)-1-k] = i
	}
	return base, window, refCtx, world
}

// readWithOffsets streams the items of the rollout at path as Read does
// (raw lines dropped), each with the byte offset of its line (in the
// decompressed stream for a .zst rollout) stored in *at before each is
// yielded.
func readWithOffsets(path string, at *int64) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		rc, name, err := OpenFile(path)
		if err != nil {
			yield(Item{}, err)
			return
		}
		defer rc.Close()
		for it, err := range readFrom(rc, name, ReadOptions{DropRaw: true}, at) {
			if !yield(it, err) {
				return
			}
		}
	}
}

// readAtOffsets reads the items whose lines start at offs (ascending) in
// the rollout at path: a plain file is read at each offset, a .zst one
// decompressed forward up to each.
func readAtOffsets(path string, offs []int64) ([]Item, error) {
	if len(offs) == 0 {
		return nil, nil
	}
	rc, name, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, plain := rc.(*os.File)
	out := make([]Item, 0, len(offs))
	var ls *lineScanner
	for _, off := range offs {
		switch {
		case plain:
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				return nil, fmt.Errorf("rollout: read %s: %w", name, err)
			}
			if ls == nil {
				ls = newLineScanner(f, DefaultMaxLineSize)
			} else {
				ls.br.Reset(f)
			}
			ls.offset = off
		default:
			if ls == nil {
				ls = newLineScanner(rc, DefaultMaxLineSize)
			}
			for ls.offset < off {
				if _, _, _, err := ls.next(); err != nil && !errors.Is(err, ErrLineTooLong) {
					return nil, fmt.Errorf("rollout: read %s at offset %d: %w", name, off, err)
				}
			}
		}
		pos := ls.offset
		line, _, _, err := ls.next()
		if err != nil || pos != off {
			return nil, fmt.Errorf("rollout: read %s at offset %d: line not found (%v)", name, off, err)
		}
		it, err := ParseLine(line)
		if err != nil {
			return nil, fmt.Errorf("rollout: %s changed while it was read (offset %d): %w", name, off, err)
		}
		it.raw = nil
		out = append(out, it)
	}
	return out, nil
}
