package main

import (
	"fmt"

	"github.com/schollz/progressbar/v3"
)

// progress reports long work on stderr: a bar when stdout is a terminal,
// plain lines (about every tenth of the work, and the last) otherwise.
// Nothing is printed for work that never reports.
type progress struct {
	a     *app
	label string
	bar   *progressbar.ProgressBar
	// lastTenth is the last tenth printed as a plain line.
	lastTenth int
	done      bool
}

func (a *app) newProgress(label string) *progress {
	return &progress{a: a, label: label, lastTenth: -1}
}

// set reports done of total units (total < 0: unknown).
func (p *progress) set(done, total int) {
	if p.done {
		return
	}
	if p.a.terminal {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(p.a.stderr),
				progressbar.OptionSetDescription(p.label),
				progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(),
			)
		}
		if total >= 0 {
			p.bar.ChangeMax(total)
			_ = p.bar.Set(done)
		} else {
			_ = p.bar.Add(1)
		}
		return
	}
	if total <= 0 {
		if done%100 == 0 {
			fmt.Fprintf(p.a.stderr, "%s: %d\n", p.label, done)
		}
		return
	}
	// Tenths 0..10: one line per tenth reached, so the last (10) once.
	if tenth := done * 10 / total; tenth != p.lastTenth {
		p.lastTenth = tenth
		fmt.Fprintf(p.a.stderr, "%s: %d/%d\n", p.label, done, total)
	}
}

// finish ends the bar (if any); later set calls are ignored.
func (p *progress) finish() {
	if p.done {
		return
	}
	p.done = true
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
