// Package envtest holds test helpers for environments: a conformance suite
// every Environment implementation must pass (TestEnvironment), a Fake whose
// start a test holds, releases or fails, and a goroutine-leak check.
//
// Usage:
//
//	envtest.TestEnvironment(t, func(t *testing.T, dir string) environment.Environment {
//		env, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
//		...
//		return env
//	})
//
//	fake := envtest.NewFake(local)      // start held
//	h, _ := reg.Register(environment.Registration{ID: "worker", Env: fake})
//	... // h.State() == environment.Starting
//	fake.Release()                      // or fake.Fail(err)
//
// The suite needs a POSIX shell (/bin/sh) and the usual utilities (echo,
// cat, sleep, head) in PATH. Fakes are safe for concurrent use; nothing in
// this package starts goroutines that outlive the call that started them.
package envtest
