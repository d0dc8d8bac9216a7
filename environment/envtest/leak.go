package envtest

import (
	"runtime"
	"testing"
	"time"
)

// CheckGoroutines records the number of goroutines now and, when the test
// ends (after cleanups registered later have run), fails it if more are
// still running after a bounded wait for them to exit. Call it first in a
// test, before anything that starts goroutines; tests using it must not run
// in parallel with others.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var n int
		for range 200 {
			if n = runtime.NumGoroutine(); n <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines still running, %d before the test:\n%s", n, before, buf)
	})
}
