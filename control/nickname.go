package control

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// defaultNicknames is the built-in pool of agent nicknames: scientists,
// mathematicians and philosophers (troupe's own selection; Codex ships a
// similar list). A role's NicknameCandidates or Config.Nicknames replace
// it.
var defaultNicknames = []string{
	"Archimedes", "Aristotle", "Avicenna", "Babbage", "Bacon", "Bohr", "Boole", "Brahe",
	"Cantor", "Carnot", "Cauchy", "Copernicus", "Curie", "Darwin", "Democritus", "Descartes",
	"Dirac", "Euclid", "Euler", "Faraday", "Fermat", "Fermi", "Feynman", "Fourier",
	"Galileo", "Gauss", "Gibbs", "Gödel", "Hamilton", "Heisenberg", "Hertz", "Hilbert",
	"Hopper", "Huygens", "Hypatia", "Kelvin", "Kepler", "Lagrange", "Laplace", "Leibniz",
	"Lovelace", "Maxwell", "Mendel", "Noether", "Pascal", "Pauli", "Planck", "Plato",
	"Poincaré", "Ptolemy", "Pythagoras", "Ramanujan", "Riemann", "Rutherford", "Shannon", "Socrates",
	"Tesla", "Thales", "Turing", "Volta", "Wiener", "Zeno",
}

// nicknames is a tree's nickname registry (guarded by Runtime.mu): the
// names in use or used before (a released name stays used until the pool
// is exhausted), and how many times the pool was exhausted.
type nicknames struct {
	used   map[string]bool
	resets int
}

// pick chooses a nickname for a new agent, as Codex does: uniformly among
// the candidates whose name (formatted with the current reset count) is
// not used; when every one is, the registry forgets them all, counts a
// reset, and picks among all candidates. The name is marked used.
func (ns *nicknames) pick(cands []string, intn func(int) int) string {
	if len(cands) == 0 {
		return ""
	}
	if ns.used == nil {
		ns.used = map[string]bool{}
	}
	var free []string
	for _, c := range cands {
		if name := formatNickname(c, ns.resets); !ns.used[name] {
			free = append(free, name)
		}
	}
	if len(free) == 0 {
		clear(ns.used)
		ns.resets++
		for _, c := range cands {
			free = append(free, formatNickname(c, ns.resets))
		}
	}
	name := free[intn(len(free))]
	ns.used[name] = true
	return name
}

// keep marks a restored agent's nickname used. A name from a later round
// ("Ada the 3rd") moves the reset count up to that round, so names picked
// after a resume never repeat a live agent's.
func (ns *nicknames) keep(name string) {
	if name == "" {
		return
	}
	if ns.used == nil {
		ns.used = map[string]bool{}
	}
	if r := nicknameResets(name); r > ns.resets {
		clear(ns.used)
		ns.resets = r
	}
	if nicknameResets(name) == ns.resets {
		ns.used[name] = true
	}
}

// nicknameResets is the reset count formatNickname gave name: n-1 for a
// name ending in " the <n><suffix>" (n >= 2), else 0.
func nicknameResets(name string) int {
	i := strings.LastIndex(name, " the ")
	if i < 0 {
		return 0
	}
	ord := name[i+len(" the "):]
	if len(ord) < 3 {
		return 0
	}
	n, err := strconv.Atoi(ord[:len(ord)-2])
	if err != nil || n < 2 || ordinal(n) != ord {
		return 0
	}
	return n - 1
}

// formatNickname is base after resets exhaustions of the pool: "Kepler",
// then "Kepler the 2nd", "Kepler the 3rd", ...
func formatNickname(base string, resets int) string {
	if resets == 0 {
		return base
	}
	return base + " the " + ordinal(resets+1)
}

// ordinal is n in English ordinal form: 2nd, 3rd, 4th, 11th, 21st, 112th.
func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}

// nicknameCandidates is the pool for a spawn of role: the role's
// candidates, else Config.Nicknames, else the built-in pool.
func (rt *Runtime) nicknameCandidates(role string) []string {
	if r, ok := rt.cfg.Roles[role]; ok && len(r.NicknameCandidates) > 0 {
		return r.NicknameCandidates
	}
	if len(rt.cfg.Nicknames) > 0 {
		return rt.cfg.Nicknames
	}
	return defaultNicknames
}

// defaultIntn is Config.Rand's zero value.
func defaultIntn(n int) int { return rand.IntN(n) }
