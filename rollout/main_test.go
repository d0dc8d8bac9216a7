package rollout

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigRolloutPath != "" {
		os.RemoveAll(filepath.Dir(bigRolloutPath))
	}
	os.Exit(code)
}
