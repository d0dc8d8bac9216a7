package archtest

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/troupe-run/troupe"

// allowedProject lists, for each library package (relative to the module),
// the packages of this module it may import. The direction is the one of
// STYLE.md: control → agent → {capability → environment, mailbox, rollout}.
// Commands (cmd/...) and examples may import anything but are checked for
// third-party placement like everyone else.
var allowedProject = map[string][]string{
	"rollout":             {},
	"rollout/sqlitestore": {"rollout"},
	"rollout/storetest":   {"rollout"},
	"environment":         {},
	"environment/envtest": {"environment"},
	"capability":          {"environment"},
	"mailbox":             {},
	"mailbox/mailboxtest": {"mailbox"},
	"agent":               {"capability", "environment", "mailbox", "rollout"},
	"agent/modeltest":     {"agent", "capability", "rollout"},
	"agent/openaimodel":   {"agent", "capability", "rollout"},
	"control":             {"agent", "capability", "environment", "mailbox", "rollout", "rollout/sqlitestore"},
	"internal/archtest":   {},
}

// importableCommands are the exceptions to "commands and examples may not
// import each other", with who may import them: the scenarios behind each
// example's main and "troupe run".
var importableCommands = map[string][]string{"examples/scenario": {"cmd/troupe", "examples/*"}}

// thirdParty says which packages may import each third-party module.
// A module missing here may not be imported by any package.
var thirdParty = map[string][]string{
	"github.com/sashabaranov/go-openai": {"agent/openaimodel"},
	"modernc.org/sqlite":                {"rollout/sqlitestore"},
	"github.com/klauspost/compress":     {"rollout"},
	"github.com/google/uuid":            {"agent", "control", "rollout/sqlitestore", "cmd/*", "examples/*"},
	"golang.org/x/sync":                 {"*"},
	"go.opentelemetry.io/otel":          {"rollout", "rollout/sqlitestore", "agent", "control", "cmd/*", "examples/*"},
	"github.com/schollz/progressbar":    {"cmd/*"},
}

type listedPackage struct {
	ImportPath string
	Dir        string
	Name       string
	Imports    []string
	GoFiles    []string
	Standard   bool
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

func isCommandOrExample(p string) bool {
	return strings.HasPrefix(p, "cmd/") || strings.HasPrefix(p, "examples/")
}

// matches reports whether pkg is named by one of the patterns ("*" is any
// package, "cmd/*" any package under cmd/).
func matches(patterns []string, pkg string) bool {
	for _, pat := range patterns {
		switch {
		case pat == "*", pat == pkg:
			return true
		case strings.HasSuffix(pat, "/*") && strings.HasPrefix(pkg, strings.TrimSuffix(pat, "*")):
			return true
		}
	}
	return false
}

func moduleOf(importPath string) (string, bool) {
	for m := range thirdParty {
		if importPath == m || strings.HasPrefix(importPath, m+"/") {
			return m, true
		}
	}
	return "", false
}

func isStandard(importPath string) bool {
	first, _, _ := strings.Cut(importPath, "/")
	return !strings.Contains(first, ".")
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		pkg := rel(p.ImportPath)
		allowed, known := allowedProject[pkg]
		if !known && !isCommandOrExample(pkg) {
			// A new library package must be placed in the table on purpose.
			t.Errorf("package %s is not in archtest's allowedProject table; add it with its allowed imports", pkg)
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, module+"/") || imp == module:
				target := rel(imp)
				if isCommandOrExample(pkg) {
					if target == "control" || strings.HasPrefix(target, "control/") || !isCommandOrExample(target) || matches(importableCommands[target], pkg) {
						continue
					}
					t.Errorf("%s imports %s: commands and examples may not import each other", pkg, target)
					continue
				}
				if !slices.Contains(allowed, target) {
					t.Errorf("%s imports %s, against the direction in STYLE.md (allowed: %v)", pkg, target, allowed)
				}
			case isStandard(imp):
			default:
				m, ok := moduleOf(imp)
				if !ok {
					t.Errorf("%s imports %s, a module not listed in archtest's thirdParty table", pkg, imp)
					continue
				}
				if !matches(thirdParty[m], pkg) {
					t.Errorf("%s imports %s; only %v may import %s", pkg, imp, thirdParty[m], m)
				}
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		pkg := rel(p.ImportPath)
		fset := token.NewFileSet()
		if p.Name == "main" {
			found := false
			for _, f := range p.GoFiles {
				af, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
				if err != nil {
					t.Fatalf("parse %s: %v", f, err)
				}
				if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("command %s has no package comment", pkg)
			}
			continue
		}
		path := filepath.Join(p.Dir, "doc.go")
		if _, err := os.Stat(path); err != nil {
			t.Errorf("package %s has no doc.go", pkg)
			continue
		}
		af, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		doc := ""
		if af.Doc != nil {
			doc = af.Doc.Text()
		}
		if want := "Package " + p.Name + " "; !strings.HasPrefix(doc, want) {
			t.Errorf("%s/doc.go: package comment must start with %q, got %q", pkg, want, firstLine(doc))
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestTablesMatchTree keeps the allowedProject table honest: every entry
// must name a package that exists.
func TestTablesMatchTree(t *testing.T) {
	present := map[string]bool{}
	for _, p := range listPackages(t) {
		present[rel(p.ImportPath)] = true
	}
	for pkg := range allowedProject {
		if !present[pkg] {
			t.Errorf("allowedProject names %s, which does not exist", pkg)
		}
	}
}
