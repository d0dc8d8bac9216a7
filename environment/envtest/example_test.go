package envtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
)

// A Fake holds an environment's start so a test can look at the states
// in between: a lazy registration stays pending until something needs it,
// then starting until the test releases it.
func ExampleFake() {
	dir, err := os.MkdirTemp("", "envtest-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := environment.NewRegistry(environment.RegistryConfig{})
	defer reg.Close()

	fake := envtest.NewFake(local)
	h, err := reg.Register(environment.Registration{ID: "worker", Env: fake, Lazy: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.State()) // lazy: nothing started yet
	h.Start()
	<-fake.Started()
	fmt.Println(h.State()) // Start is running, held by the fake
	fake.Release()
	if err := h.Wait(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.State(), fake.Starts())

	// A second environment whose start fails for good.
	broken := envtest.NewFake(local)
	h2, _ := reg.Register(environment.Registration{ID: "broken", Env: broken})
	broken.Fail(errors.New("no route to host"))
	fmt.Println(h2.Wait(context.Background()))
	// Output:
	// pending
	// starting
	// ready 1
	// environment broken failed to start: no route to host
}
