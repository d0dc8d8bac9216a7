package agent

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// This file names the local time zone the way Codex does: an IANA name
// ("Europe/Paris", "Etc/UTC") rather than time.Local's abbreviation.

// ZoneSources are the places the IANA name of the local time zone
// (time.Local) is read from, in the order the standard library uses them:
// the TZ environment variable, when set, decides alone (an empty value is
// UTC; a value naming a file under a zoneinfo directory names that zone);
// otherwise the target of the Localtime symbolic link below a zoneinfo
// directory, then the first line of TimezoneFile (Debian's /etc/timezone).
// Zero fields skip their source, so the zero ZoneSources knows nothing.
type ZoneSources struct {
	// LookupEnv reads an environment variable (os.LookupEnv in
	// SystemZoneSources). Nil: no variable is set.
	LookupEnv func(key string) (string, bool)
	// Localtime is the path of the link to the zone file
	// ("/etc/localtime"). Empty: not consulted.
	Localtime string
	// TimezoneFile is the path of a file naming the zone
	// ("/etc/timezone"). Empty: not consulted.
	TimezoneFile string
}

// SystemZoneSources returns the sources of this machine: the process
// environment, /etc/localtime and /etc/timezone.
func SystemZoneSources() ZoneSources {
	return ZoneSources{LookupEnv: os.LookupEnv, Localtime: "/etc/localtime", TimezoneFile: "/etc/timezone"}
}

// LocalZoneName returns the IANA name of the local time zone, or "" when
// none is knowable (TZ set to something that names no zone file, such as
// a POSIX rule; a localtime file that is a copy rather than a link; no
// timezone file). Files that cannot be read count as absent.
func (s ZoneSources) LocalZoneName() string {
	if s.LookupEnv != nil {
		if tz, ok := s.LookupEnv("TZ"); ok {
			return zoneFromTZ(tz)
		}
	}
	if s.Localtime != "" {
		if name := zoneFromLink(s.Localtime); name != "" {
			return name
		}
	}
	if s.TimezoneFile != "" {
		if name := zoneFromFile(s.TimezoneFile); name != "" {
			return name
		}
	}
	return ""
}

// zoneFromTZ reads TZ as the standard library does: "" is UTC, a leading
// colon is dropped, an absolute path names the file it points at.
func zoneFromTZ(tz string) string {
	tz = strings.TrimPrefix(tz, ":")
	switch {
	case tz == "":
		return "UTC"
	case filepath.IsAbs(tz):
		return zoneFromPath(tz)
	case validZoneName(tz):
		return tz
	}
	return ""
}

// zoneFromLink returns the zone the localtime link points at: the target
// of the link itself, else of the whole chain of links.
func zoneFromLink(path string) string {
	if target, err := os.Readlink(path); err == nil {
		if name := zoneFromPath(target); name != "" {
			return name
		}
	}
	if target, err := filepath.EvalSymlinks(path); err == nil && target != path {
		return zoneFromPath(target)
	}
	return ""
}

// zoneFromPath returns the part of a zone file's path below its zoneinfo
// directory (without the posix/ or right/ variants' prefix), or "".
func zoneFromPath(path string) string {
	path = filepath.ToSlash(filepath.Clean(path))
	i := strings.LastIndex(path, "/zoneinfo/")
	if i < 0 {
		return ""
	}
	name := path[i+len("/zoneinfo/"):]
	for _, p := range []string{"posix/", "right/"} {
		name = strings.TrimPrefix(name, p)
	}
	if !validZoneName(name) {
		return ""
	}
	return name
}

// zoneFromFile returns the first non-empty, non-comment line of a file
// naming the zone, when it is a zone name.
func zoneFromFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if validZoneName(line) {
			return line
		}
		return ""
	}
	return ""
}

// validZoneName reports whether name has the shape of an IANA zone name:
// slash-separated components of letters, digits, '_', '-' and '+', none
// starting with a dot (so no path escapes).
func validZoneName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == "" || c[0] == '.' || c[0] == '-' {
			return false
		}
		for _, r := range c {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '+':
			default:
				return false
			}
		}
	}
	return true
}

// DateAndZone returns the current_date and timezone values of now: the
// date in now's location and the location's name. When the location is
// the unnamed "Local", the name is local (the IANA name found by
// ZoneSources.LocalZoneName), or the zone abbreviation when local is
// empty.
func DateAndZone(now time.Time, local string) (date, zone string) {
	zone = now.Location().String()
	if zone == "Local" {
		zone = local
		if zone == "" {
			zone, _ = now.Zone()
		}
	}
	return now.Format(time.DateOnly), zone
}
