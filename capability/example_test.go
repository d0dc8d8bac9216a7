package capability_test

import (
	"fmt"

	"github.com/troupe-run/troupe/capability"
)

func ExampleParseSkill() {
	s, err := capability.ParseSkill([]byte("---\nname: review\ndescription: Review a diff\n---\nRead the diff, then comment.\n"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %s\n%s", s.Name, s.Description, s.Instructions)
	// Output:
	// review: Review a diff
	// Read the diff, then comment.
}
