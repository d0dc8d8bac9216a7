package agent_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
)

// zoneRoot builds a fake system root in a temporary directory: a zoneinfo
// tree with a few zone files, and returns its path.
func zoneRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, z := range []string{"Europe/Paris", "Etc/UTC", "America/Argentina/Buenos_Aires", "posix/Asia/Tokyo"} {
		p := filepath.Join(root, "usr/share/zoneinfo", z)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("TZif2"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestLocalZoneName(t *testing.T) {
	type setup struct {
		env      map[string]string // nil: no variables
		link     string            // target of etc/localtime ("" none); relative to root when it starts with "root:"
		copyFile bool              // etc/localtime is a regular file
		timezone string            // content of etc/timezone ("" none)
	}
	tests := []struct {
		name string
		s    setup
		want string
	}{
		{"nothing", setup{}, ""},
		{"TZ name", setup{env: map[string]string{"TZ": "Europe/Paris"}, link: "root:usr/share/zoneinfo/Etc/UTC"}, "Europe/Paris"},
		{"TZ colon name", setup{env: map[string]string{"TZ": ":America/Argentina/Buenos_Aires"}}, "America/Argentina/Buenos_Aires"},
		{"TZ empty is UTC", setup{env: map[string]string{"TZ": ""}, link: "root:usr/share/zoneinfo/Europe/Paris"}, "UTC"},
		{"TZ absolute path", setup{env: map[string]string{"TZ": "/usr/share/zoneinfo/Europe/Paris"}}, "Europe/Paris"},
		{"TZ path outside zoneinfo decides alone", setup{env: map[string]string{"TZ": "/tmp/myzone"}, link: "root:usr/share/zoneinfo/Europe/Paris"}, ""},
		{"TZ escaping name", setup{env: map[string]string{"TZ": "../../etc/passwd"}, timezone: "Europe/Paris\n"}, ""},
		{"other variables only", setup{env: map[string]string{"HOME": "/root"}, link: "root:usr/share/zoneinfo/Etc/UTC"}, "Etc/UTC"},
		{"absolute link", setup{link: "root:usr/share/zoneinfo/Europe/Paris"}, "Europe/Paris"},
		{"relative link", setup{link: "../usr/share/zoneinfo/America/Argentina/Buenos_Aires"}, "America/Argentina/Buenos_Aires"},
		{"posix variant", setup{link: "root:usr/share/zoneinfo/posix/Asia/Tokyo"}, "Asia/Tokyo"},
		{"link wins over timezone file", setup{link: "root:usr/share/zoneinfo/Europe/Paris", timezone: "Etc/UTC\n"}, "Europe/Paris"},
		{"link outside zoneinfo falls to timezone file", setup{link: "root:etc/elsewhere", timezone: "Europe/Paris\n"}, "Europe/Paris"},
		{"copied file falls to timezone file", setup{copyFile: true, timezone: "# zone\n\n  Etc/UTC  \n"}, "Etc/UTC"},
		{"copied file, no timezone file", setup{copyFile: true}, ""},
		{"timezone file garbage", setup{timezone: "not a zone name!\n"}, ""},
		{"timezone file only", setup{timezone: "Europe/Paris"}, "Europe/Paris"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := zoneRoot(t)
			src := agent.ZoneSources{
				Localtime:    filepath.Join(root, "etc/localtime"),
				TimezoneFile: filepath.Join(root, "etc/timezone"),
			}
			if tt.s.env != nil {
				src.LookupEnv = env(tt.s.env)
			}
			if l := tt.s.link; l != "" {
				if len(l) > 5 && l[:5] == "root:" {
					l = filepath.Join(root, l[5:])
				}
				if err := os.Symlink(l, src.Localtime); err != nil {
					t.Fatal(err)
				}
			}
			if tt.s.copyFile {
				if err := os.WriteFile(src.Localtime, []byte("TZif2"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.s.timezone != "" {
				if err := os.WriteFile(src.TimezoneFile, []byte(tt.s.timezone), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := src.LocalZoneName(); got != tt.want {
				t.Errorf("LocalZoneName() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLocalZoneNameZeroSources(t *testing.T) {
	if got := (agent.ZoneSources{}).LocalZoneName(); got != "" {
		t.Errorf("ZoneSources{}.LocalZoneName() = %q, want \"\"", got)
	}
}

func TestDateAndZone(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	inst := time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		name     string
		now      time.Time
		local    string
		wantDate string
		wantZone string
	}{
		{"named location", inst, "Europe/Paris", "2026-11-25", "UTC"},
		{"fixed zone keeps its name", inst.In(paris), "", "2026-11-26", "CET"},
		{"local with a known name", inst.In(time.Local), "Etc/UTC", inst.In(time.Local).Format(time.DateOnly), "Etc/UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, z := agent.DateAndZone(tt.now, tt.local)
			if d != tt.wantDate || z != tt.wantZone {
				t.Errorf("DateAndZone(%v, %q) = %q, %q, want %q, %q", tt.now, tt.local, d, z, tt.wantDate, tt.wantZone)
			}
		})
	}
	// Local without a known name: the abbreviation of the instant.
	now := inst.In(time.Local)
	abbr, _ := now.Zone()
	if _, z := agent.DateAndZone(now, ""); z != abbr {
		t.Errorf("DateAndZone(local, \"\") zone = %q, want %q", z, abbr)
	}
}

// TestWorkspaceLocalZone checks the environments section names a step
// time in time.Local by the configured IANA name, a named location by its
// own name, and that a malformed name is refused.
func TestWorkspaceLocalZone(t *testing.T) {
	reg := newRegistry(t)
	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{Registry: reg, LocalZone: "Europe/Paris", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	inst := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i, tt := range []struct {
		now  time.Time
		want string
	}{
		{inst.In(time.Local), "Europe/Paris"},
		{inst, "UTC"},
	} {
		s, err := ws.CaptureStep(context.Background(), agent.StepInfo{TurnID: "t", Index: i, Now: tt.now})
		if err != nil {
			t.Fatal(err)
		}
		envs := s.Sections[0].(*agent.EnvironmentsSection)
		if envs.Timezone != tt.want {
			t.Errorf("step %d: Timezone = %q, want %q", i, envs.Timezone, tt.want)
		}
		f, ok := envs.Render(agent.Prior{})
		if !ok || !strings.Contains(f.Text, "<timezone>"+tt.want+"</timezone>") {
			t.Errorf("step %d: Render = %v %q, want <timezone>%s</timezone>", i, ok, f.Text, tt.want)
		}
	}
	if _, err := agent.NewWorkspace(agent.WorkspaceConfig{Registry: reg, LocalZone: "../etc/passwd"}); !errors.Is(err, agent.ErrConfig) {
		t.Errorf("NewWorkspace(LocalZone ../etc/passwd) = %v, want ErrConfig", err)
	}
}

// FuzzLocalZoneName feeds TZ values and timezone file contents: whatever
// they hold, the name found is empty or a relative zone name that cannot
// escape a zoneinfo directory.
func FuzzLocalZoneName(f *testing.F) {
	for _, s := range []string{"Europe/Paris", ":Etc/UTC", "/usr/share/zoneinfo/posix/Asia/Tokyo", "../x", "CET-1CEST", "", "a//b", "/zoneinfo/.."} {
		f.Add(s, true)
		f.Add(s+"\n", false)
	}
	f.Fuzz(func(t *testing.T, s string, asTZ bool) {
		src := agent.ZoneSources{}
		if asTZ {
			src.LookupEnv = env(map[string]string{"TZ": s})
		} else {
			src.TimezoneFile = filepath.Join(t.TempDir(), "timezone")
			if err := os.WriteFile(src.TimezoneFile, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		name := src.LocalZoneName()
		if name == "" {
			return
		}
		if filepath.IsAbs(name) || strings.Contains(name, "..") || strings.Contains(name, "//") || strings.ContainsAny(name, " \n\t\\") {
			t.Errorf("LocalZoneName() = %q for %q, not a zone name", name, s)
		}
	})
}
