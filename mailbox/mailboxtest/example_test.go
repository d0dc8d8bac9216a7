package mailboxtest_test

import (
	"fmt"
	"strings"

	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/mailbox/mailboxtest"
)

// The test key builds sealers for rotation tests: the same secret under
// several ids.
func ExampleKey() {
	s, err := mailbox.NewLocalSealer(mailbox.LocalSealerConfig{
		Keys:   []mailbox.Key{mailboxtest.Key("old"), mailboxtest.Key(mailboxtest.KeyID)},
		Active: mailboxtest.KeyID,
	})
	if err != nil {
		panic(err)
	}
	env, _ := s.Seal("task")
	fmt.Println(strings.HasPrefix(env, "troupe-seal:v1:test:"))
	// Output:
	// true
}
