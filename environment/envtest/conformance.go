package envtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/environment"
)

// Factory builds the environment under test, rooted at dir (its working
// directory and only root). It may register cleanups on t.
type Factory func(t *testing.T, dir string) environment.Environment

// Layout of the tree TestEnvironment prepares in dir before calling the
// factory: hello.txt ("hello\n"), sub/nested.txt ("nested\n"), link-in →
// hello.txt, and two symlinks out of the root: link-out → a file outside,
// linkdir-out → a directory outside.
const (
	helloContent  = "hello\n"
	nestedContent = "nested\n"
)

type fixture struct {
	env     environment.Environment
	dir     string // as given to the factory
	outside string // a directory outside the root
}

func setup(t *testing.T, factory Factory) fixture {
	t.Helper()
	dir, outside := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloContent), 0o644))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "nested.txt"), []byte(nestedContent), 0o644))
	must(os.Symlink("hello.txt", filepath.Join(dir, "link-in")))
	must(os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret\n"), 0o644))
	must(os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "link-out")))
	must(os.Symlink(outside, filepath.Join(dir, "linkdir-out")))
	return fixture{env: factory(t, dir), dir: dir, outside: outside}
}

// TestEnvironment runs the conformance suite against the environments
// factory builds: commands (exit codes, stdin, variables, working
// directory, timeout killing the process group, output cap), files (read,
// write, list, stat), path confinement (".." and symlink escapes rejected
// with ErrEscape inside a *PathError) and error kinds matching with
// errors.Is. Local and remote environments must behave the same.
func TestEnvironment(t *testing.T, factory Factory) {
	if runtime.GOOS == "windows" {
		t.Skip("envtest: the suite needs a POSIX shell")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, fixture)
	}{
		{"Info", testInfo},
		{"RunExitAndStreams", testRunExit},
		{"RunStdinEnvDir", testRunInputs},
		{"RunBadInput", testRunBadInput},
		{"RunTimeoutKillsGroup", testRunTimeout},
		{"RunOutputCap", testRunOutputCap},
		{"RunCancelled", testRunCancelled},
		{"ReadFile", testReadFile},
		{"WriteFile", testWriteFile},
		{"ReadDir", testReadDir},
		{"Stat", testStat},
		{"Confinement", testConfinement},
		{"RealPath", testRealPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, setup(t, factory))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sameDir(t *testing.T, a, b string) bool {
	t.Helper()
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

func testInfo(t *testing.T, f fixture) {
	info, err := f.env.Info(ctxFor(t))
	if err != nil {
		t.Fatalf("Info() error = %v", err)
	}
	if !sameDir(t, info.Cwd, f.dir) {
		t.Errorf("Info().Cwd = %q, want %q", info.Cwd, f.dir)
	}
	if len(info.Roots) == 0 || !sameDir(t, info.Roots[0], f.dir) {
		t.Errorf("Info().Roots = %q, want first %q", info.Roots, f.dir)
	}
	if info.Shell.Path == "" || info.OS == "" {
		t.Errorf("Info() = %+v, want a shell path and an OS", info)
	}
}

func testRunExit(t *testing.T, f fixture) {
	res, err := f.env.Run(ctxFor(t), environment.Command{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("Run() = exit %d stdout %q stderr %q, want 3 %q %q", res.ExitCode, res.Stdout, res.Stderr, "out\n", "err\n")
	}
	if res.TimedOut || res.StdoutTruncated || res.StderrTruncated {
		t.Errorf("Run() flags = %+v, want none", res)
	}
	res, err = f.env.Run(ctxFor(t), environment.Command{Argv: []string{"true"}})
	if err != nil || res.ExitCode != 0 || res.Stdout == nil || len(res.Stdout) != 0 {
		t.Errorf("Run(true) = %+v, %v; want exit 0, empty non-nil stdout", res, err)
	}
}

func testRunInputs(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	res, err := f.env.Run(ctx, environment.Command{Argv: []string{"cat"}, Stdin: []byte("fed in")})
	if err != nil || string(res.Stdout) != "fed in" {
		t.Errorf("Run(cat) stdout = %q, %v; want %q", res.Stdout, err, "fed in")
	}
	res, err = f.env.Run(ctx, environment.Command{Argv: []string{"sh", "-c", `printf %s "$TROUPE_FOO"`}, Env: []string{"TROUPE_FOO=bar"}})
	if err != nil || string(res.Stdout) != "bar" {
		t.Errorf("Run(env) stdout = %q, %v; want %q", res.Stdout, err, "bar")
	}
	res, err = f.env.Run(ctx, environment.Command{Argv: []string{"pwd"}, Dir: "sub"})
	if err != nil || !sameDir(t, strings.TrimSpace(string(res.Stdout)), filepath.Join(f.dir, "sub")) {
		t.Errorf("Run(pwd, Dir sub) = %q, %v; want %q", res.Stdout, err, filepath.Join(f.dir, "sub"))
	}
	res, err = f.env.Run(ctx, environment.Command{Argv: []string{"pwd"}})
	if err != nil || !sameDir(t, strings.TrimSpace(string(res.Stdout)), f.dir) {
		t.Errorf("Run(pwd) = %q, %v; want %q", res.Stdout, err, f.dir)
	}
}

func testRunBadInput(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	cases := []struct {
		cmd  environment.Command
		want error
	}{
		{environment.Command{}, environment.ErrInvalid},
		{environment.Command{Argv: []string{"true"}, Env: []string{"NOEQUALS"}}, environment.ErrInvalid},
		{environment.Command{Argv: []string{"true"}, Timeout: -1}, environment.ErrInvalid},
		{environment.Command{Argv: []string{"troupe-no-such-command-xyz"}}, environment.ErrCommandNotFound},
		{environment.Command{Argv: []string{"true"}, Dir: ".."}, environment.ErrEscape},
		{environment.Command{Argv: []string{"true"}, Dir: "linkdir-out"}, environment.ErrEscape},
		{environment.Command{Argv: []string{"true"}, Dir: "missing"}, fs.ErrNotExist},
		{environment.Command{Argv: []string{"true"}, Dir: "hello.txt"}, environment.ErrInvalid},
	}
	for _, c := range cases {
		_, err := f.env.Run(ctx, c.cmd)
		if !errors.Is(err, c.want) {
			t.Errorf("Run(%+v) error = %v, want %v", c.cmd, err, c.want)
		}
	}
}

func testRunTimeout(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	// The background sleep shares the process group; the timeout must kill
	// it too, or Run would wait for its stdout.
	// On a loaded machine the timeout may fire before the shell printed
	// the pid; then try again with a longer one.
	var res environment.Result
	for timeout := 200 * time.Millisecond; ; timeout *= 2 {
		var err error
		res, err = f.env.Run(ctx, environment.Command{
			Argv:    []string{"sh", "-c", "sleep 60 & echo $!; wait"},
			Timeout: timeout,
		})
		if err != nil {
			t.Fatalf("Run(sleep) error = %v", err)
		}
		if !res.TimedOut || res.ExitCode != -1 {
			t.Fatalf("Run(sleep) = timed out %v exit %d, want true -1", res.TimedOut, res.ExitCode)
		}
		if len(res.Stdout) > 0 || timeout > 10*time.Second {
			break
		}
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if err != nil {
		t.Fatalf("Run(sleep) stdout = %q, want the background pid", res.Stdout)
	}
	// The kill is asynchronous to the grandchild's reaping: poll, bounded.
	for i := 0; ; i++ {
		res, err := f.env.Run(ctx, environment.Command{Argv: []string{"sh", "-c", fmt.Sprintf("kill -0 %d 2>/dev/null", pid)}})
		if err != nil {
			t.Fatalf("Run(kill -0) error = %v", err)
		}
		if res.ExitCode != 0 {
			break
		}
		if i == 100 {
			t.Fatalf("background process %d still alive after the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testRunOutputCap(t *testing.T, f fixture) {
	res, err := f.env.Run(ctxFor(t), environment.Command{
		Argv:      []string{"sh", "-c", "head -c 100000 /dev/zero; echo small >&2"},
		MaxOutput: 1000,
	})
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if len(res.Stdout) != 1000 || !res.StdoutTruncated {
		t.Errorf("Run() stdout len %d truncated %v, want 1000 true", len(res.Stdout), res.StdoutTruncated)
	}
	if string(res.Stderr) != "small\n" || res.StderrTruncated {
		t.Errorf("Run() stderr %q truncated %v, want %q false", res.Stderr, res.StderrTruncated, "small\n")
	}
	if res.ExitCode != 0 {
		t.Errorf("Run() exit = %d, want 0", res.ExitCode)
	}
}

func testRunCancelled(t *testing.T, f fixture) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := f.env.Run(ctx, environment.Command{Argv: []string{"true"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run(cancelled ctx) error = %v, want context.Canceled", err)
	}
}

func testReadFile(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	info, err := f.env.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hello.txt", "./hello.txt", "sub/../hello.txt", "link-in", filepath.Join(info.Cwd, "hello.txt"), filepath.Join(f.dir, "hello.txt")} {
		got, err := f.env.ReadFile(ctx, name)
		if err != nil || string(got) != helloContent {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", name, got, err, helloContent)
		}
	}
	if got, err := f.env.ReadFile(ctx, "sub/nested.txt"); err != nil || string(got) != nestedContent {
		t.Errorf("ReadFile(sub/nested.txt) = %q, %v; want %q", got, err, nestedContent)
	}
	_, err = f.env.ReadFile(ctx, "missing.txt")
	var pe *environment.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != "missing.txt" || pe.Op != "read" {
		t.Errorf("ReadFile(missing.txt) error = %v, want a read *PathError for missing.txt wrapping fs.ErrNotExist", err)
	}
	if _, err := f.env.ReadFile(ctx, "sub"); err == nil {
		t.Errorf("ReadFile(sub) error = nil, want an error for a directory")
	}
}

func testWriteFile(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	if err := f.env.WriteFile(ctx, "a/b/new.txt", []byte("one"), 0o600); err != nil {
		t.Fatalf("WriteFile(a/b/new.txt) error = %v", err)
	}
	if err := f.env.WriteFile(ctx, "a/b/new.txt", []byte("two"), 0); err != nil {
		t.Fatalf("WriteFile(a/b/new.txt) again error = %v", err)
	}
	got, err := f.env.ReadFile(ctx, "a/b/new.txt")
	if err != nil || string(got) != "two" {
		t.Errorf("ReadFile after WriteFile = %q, %v; want %q", got, err, "two")
	}
	onDisk, err := os.ReadFile(filepath.Join(f.dir, "a", "b", "new.txt"))
	if err != nil || string(onDisk) != "two" {
		t.Errorf("file on disk = %q, %v; want %q", onDisk, err, "two")
	}
	if err := f.env.WriteFile(ctx, "sub", []byte("x"), 0); err == nil {
		t.Errorf("WriteFile(sub) error = nil, want an error for a directory")
	}
	if err := f.env.WriteFile(ctx, "empty.txt", nil, 0); err != nil {
		t.Errorf("WriteFile(empty.txt, nil) error = %v", err)
	} else if got, err := f.env.ReadFile(ctx, "empty.txt"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ReadFile(empty.txt) = %q (nil %v), %v; want empty non-nil", got, got == nil, err)
	}
	ents, err := os.ReadDir(filepath.Join(f.dir, "a", "b"))
	if err != nil || len(ents) != 1 {
		t.Errorf("a/b holds %v, %v; want only new.txt (no temp files left)", ents, err)
	}
}

func testReadDir(t *testing.T, f fixture) {
	ents, err := f.env.ReadDir(ctxFor(t), ".")
	if err != nil {
		t.Fatalf("ReadDir(.) error = %v", err)
	}
	var names []string
	types := map[string]fs.FileMode{}
	for _, e := range ents {
		names = append(names, e.Name)
		types[e.Name] = e.Type
	}
	want := []string{"hello.txt", "link-in", "link-out", "linkdir-out", "sub"}
	if !slices.Equal(names, want) {
		t.Errorf("ReadDir(.) names = %q, want %q", names, want)
	}
	if !types["sub"].IsDir() || types["link-in"]&fs.ModeSymlink == 0 || types["hello.txt"] != 0 {
		t.Errorf("ReadDir(.) types = %v, want sub dir, link-in symlink, hello.txt regular", types)
	}
	if _, err := f.env.ReadDir(ctxFor(t), "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func testStat(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	fi, err := f.env.Stat(ctx, "hello.txt")
	if err != nil || fi.Size != int64(len(helloContent)) || fi.IsDir() || fi.Name != "hello.txt" {
		t.Errorf("Stat(hello.txt) = %+v, %v; want size %d, not a dir", fi, err, len(helloContent))
	}
	fi, err = f.env.Stat(ctx, "sub")
	if err != nil || !fi.IsDir() {
		t.Errorf("Stat(sub) = %+v, %v; want a directory", fi, err)
	}
	fi, err = f.env.Stat(ctx, "link-in")
	if err != nil || fi.Size != int64(len(helloContent)) || fi.Mode&fs.ModeSymlink != 0 {
		t.Errorf("Stat(link-in) = %+v, %v; want the target followed", fi, err)
	}
	if _, err := f.env.Stat(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func testConfinement(t *testing.T, f fixture) {
	ctx := ctxFor(t)
	escapes := []string{
		"..",
		"../x",
		"sub/../../x",
		"/etc/passwd",
		"link-out",
		"linkdir-out",
		"linkdir-out/secret.txt",
		filepath.Join(f.outside, "secret.txt"),
	}
	for _, name := range escapes {
		_, err := f.env.ReadFile(ctx, name)
		var pe *environment.PathError
		if !errors.Is(err, environment.ErrEscape) || !errors.As(err, &pe) || pe.Path != name {
			t.Errorf("ReadFile(%q) error = %v, want *PathError for %q wrapping ErrEscape", name, err, name)
		}
		if _, err := f.env.Stat(ctx, name); !errors.Is(err, environment.ErrEscape) {
			t.Errorf("Stat(%q) error = %v, want ErrEscape", name, err)
		}
		if _, err := f.env.ReadDir(ctx, name); !errors.Is(err, environment.ErrEscape) {
			t.Errorf("ReadDir(%q) error = %v, want ErrEscape", name, err)
		}
	}
	for _, name := range []string{"linkdir-out/new.txt", "../new.txt", filepath.Join(f.outside, "new.txt"), "link-out"} {
		if err := f.env.WriteFile(ctx, name, []byte("x"), 0); !errors.Is(err, environment.ErrEscape) {
			t.Errorf("WriteFile(%q) error = %v, want ErrEscape", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.outside, "new.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a write escaped the root: %s exists (%v)", filepath.Join(f.outside, "new.txt"), err)
	}
	if got, _ := os.ReadFile(filepath.Join(f.outside, "secret.txt")); !bytes.Equal(got, []byte("secret\n")) {
		t.Errorf("outside file changed to %q", got)
	}
	if _, err := f.env.ReadFile(ctx, ""); !errors.Is(err, environment.ErrInvalid) {
		t.Errorf("ReadFile(\"\") error = %v, want ErrInvalid", err)
	}
}

func testRealPath(t *testing.T, f fixture) {
	pr, ok := f.env.(environment.PathResolver)
	if !ok {
		t.Skip("environment does not implement PathResolver")
	}
	ctx := ctxFor(t)
	real, err := filepath.EvalSymlinks(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		err        error
	}{
		{"link-in", filepath.Join(real, "hello.txt"), nil},
		{"sub/../sub/nested.txt", filepath.Join(real, "sub", "nested.txt"), nil},
		{"not/yet", filepath.Join(real, "not", "yet"), nil},
		{"link-out", "", environment.ErrEscape},
		{"../x", "", environment.ErrEscape},
	}
	for _, tt := range tests {
		got, err := pr.RealPath(ctx, tt.name)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("RealPath(%q) error = %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("RealPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
