package capability_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/capability"
)

func TestSelectedRootJSON(t *testing.T) {
	root := capability.EnvironmentRoot("demo", "local", "/plugins/my demo")
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"demo","location":{"type":"environment","environmentId":"local","path":"file:///plugins/my%20demo"}}`
	if string(b) != want {
		t.Errorf("Marshal() = %s, want %s", b, want)
	}
	var back capability.SelectedCapabilityRoot
	if err := json.Unmarshal(b, &back); err != nil || back != root {
		t.Errorf("Unmarshal(Marshal()) = %+v, %v; want %+v", back, err, root)
	}

	tests := []struct {
		in      string
		want    capability.SelectedCapabilityRoot
		wantErr bool
	}{
		{`{"id":"a","location":{"type":"environment","environmentId":"remote","path":"/abs/p"}}`, capability.EnvironmentRoot("a", "remote", "/abs/p"), false},
		{`{"id":"a","location":{"type":"environment","environmentId":"remote","path":"file://localhost/abs/p"}}`, capability.EnvironmentRoot("a", "remote", "/abs/p"), false},
		{`{"id":"a","location":{"type":"plugin","environmentId":"remote","path":"/abs"}}`, capability.SelectedCapabilityRoot{}, true},
		{`{"id":"a","location":{"type":"environment","environmentId":"remote","path":"file://host/abs"}}`, capability.SelectedCapabilityRoot{}, true},
	}
	for _, tt := range tests {
		var got capability.SelectedCapabilityRoot
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		root capability.SelectedCapabilityRoot
		ok   bool
	}{
		{capability.EnvironmentRoot("a", "local", "/x/y"), true},
		{capability.EnvironmentRoot("", "local", "/x"), false},
		{capability.EnvironmentRoot("a", "", "/x"), false},
		{capability.EnvironmentRoot("a", "local", "x/y"), false},
		{capability.EnvironmentRoot("a", "local", "/x/../../etc"), false},
		{capability.EnvironmentRoot("a", "local", "/x/./y"), false},
		{capability.SelectedCapabilityRoot{ID: "a", Location: capability.Location{Type: "other", EnvironmentID: "l", Path: "/x"}}, false},
	}
	for _, tt := range tests {
		if err := tt.root.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tt.root, err, tt.ok)
		}
	}
	if err := capability.EnvironmentRoot("a", "local", "/x/../y").Validate(); !errors.Is(err, capability.ErrRootPath) {
		t.Errorf("Validate(..) error = %v, want ErrRootPath", err)
	}
}

func TestParseSkill(t *testing.T) {
	tests := []struct {
		in        string
		name      string
		desc      string
		body      string
		wantError bool
	}{
		{"---\nname: review\ndescription: Review a diff\n---\nDo it.\n", "review", "Review a diff", "Do it.\n", false},
		{"\ufeff---\r\nname: \"q: x\"\r\ndescription: 'it''s'\r\nmetadata:\r\n  k: v\r\n---\r\n\r\nBody", "q: x", "it's", "Body", false},
		{"---\nname: a # comment\ndescription: d\n---", "a", "d", "", false},
		{"name: a\ndescription: d\n", "", "", "", true},
		{"---\nname: a\ndescription: d\n", "", "", "", true},
		{"---\nname: a\n---\n", "", "", "", true},
		{"---\ndescription: d\n---\n", "", "", "", true},
		{"---\nname: \"unterminated\ndescription: d\n---\n", "", "", "", true},
		{"---\njunk\n---\n", "", "", "", true},
	}
	for _, tt := range tests {
		s, err := capability.ParseSkill([]byte(tt.in))
		if tt.wantError {
			if err == nil {
				t.Errorf("ParseSkill(%q) = %+v, want an error", tt.in, s)
			}
			continue
		}
		if err != nil || s.Name != tt.name || s.Description != tt.desc || s.Instructions != tt.body {
			t.Errorf("ParseSkill(%q) = %+v, %v; want name %q desc %q body %q", tt.in, s, err, tt.name, tt.desc, tt.body)
		}
	}
}

func FuzzParseSkill(f *testing.F) {
	f.Add("---\nname: review\ndescription: Review a diff\n---\nDo it.\n")
	f.Add("---\nname: \"a\\u0041\"\ndescription: 'x'\n---")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := capability.ParseSkill([]byte(in))
		if err == nil && (s.Name == "" || s.Description == "") {
			t.Fatalf("ParseSkill(%q) = %+v without error but with an empty field", in, s)
		}
	})
}

func TestPathURI(t *testing.T) {
	for _, p := range []string{"/a/b", "/with space/é", "/C:/plugins/demo"} {
		u := capability.PathURI(p)
		if !strings.HasPrefix(u, "file:///") {
			t.Errorf("PathURI(%q) = %q, want a file:/// URI", p, u)
		}
		if back, err := capability.ParsePathURI(u); err != nil || back != p {
			t.Errorf("ParsePathURI(PathURI(%q)) = %q, %v; want %q", p, back, err, p)
		}
	}
	if got, err := capability.ParsePathURI("/plain"); err != nil || got != "/plain" {
		t.Errorf("ParsePathURI(/plain) = %q, %v", got, err)
	}
}
