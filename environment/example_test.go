package environment_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/troupe-run/troupe/environment"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		panic(err)
	}
	reg := environment.NewRegistry(environment.RegistryConfig{})
	defer reg.Close()
	if _, err := reg.Register(environment.Registration{ID: environment.LocalID, Env: local}); err != nil {
		panic(err)
	}

	// Once per turn: the thread's selection. Once per step: a snapshot.
	sels := reg.Select(reg.DefaultSelections())
	snap := reg.Capture(sels)
	primary, _ := snap.Primary()
	env := primary.Handle.Environment()

	_ = env.WriteFile(ctx, "notes/todo.txt", []byte("ship it\n"), 0)
	res, _ := env.Run(ctx, environment.Command{Argv: []string{"cat", "notes/todo.txt"}})
	fmt.Printf("%s exit=%d %q\n", primary.Selection.EnvironmentID, res.ExitCode, res.Stdout)

	_, err = env.ReadFile(ctx, filepath.Join("..", "elsewhere"))
	fmt.Println(errors.Is(err, environment.ErrEscape))
	// Output:
	// local exit=0 "ship it\n"
	// true
}
