package control

import (
	"errors"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "/root", want: "/root"},
		{in: "/root/worker", want: "/root/worker"},
		{in: "/root/a_1/b2", want: "/root/a_1/b2"},
		{in: "/morpheus", want: "/morpheus"},
		{in: "root", err: "absolute agent paths must start with `/root` or be `/morpheus`"},
		{in: "/rooted", err: "absolute agent paths must start with `/root` or be `/morpheus`"},
		{in: "/root/", err: "absolute agent path must not end with `/`"},
		{in: "/root/a//b", err: "agent_name must not be empty"},
		{in: "/root/root", err: "agent_name `root` is reserved"},
		{in: "/root/..", err: "agent_name `..` is reserved"},
		{in: "/root/Worker", err: "agent_name must use only lowercase letters, digits, and underscores"},
	}
	for _, tt := range tests {
		p, err := ParsePath(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidPath) {
				t.Errorf("ParsePath(%q) = %v, %v; want error %q", tt.in, p, err, tt.err)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("ParsePath(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestPathResolve(t *testing.T) {
	caller := Path{"/root/researcher"}
	tests := []struct {
		ref, want, err string
	}{
		{ref: "worker", want: "/root/researcher/worker"},
		{ref: "worker/tester", want: "/root/researcher/worker/tester"},
		{ref: "/root", want: "/root"},
		{ref: "/root/other", want: "/root/other"},
		{ref: "", err: "agent path must not be empty"},
		{ref: "worker/", err: "relative agent path must not end with `/`"},
		{ref: "Bad", err: "agent_name must use only lowercase letters, digits, and underscores"},
		{ref: "a/../b", err: "agent_name `..` is reserved"},
	}
	for _, tt := range tests {
		p, err := caller.Resolve(tt.ref)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Resolve(%q) = %v, %v; want error %q", tt.ref, p, err, tt.err)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tt.ref, p, err, tt.want)
		}
	}
}

func TestPathParts(t *testing.T) {
	p, err := RootPath.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := p.Join("b")
	if q.String() != "/root/a/b" || q.Name() != "b" || q.Depth() != 2 || RootPath.Depth() != 0 || RootPath.Name() != "root" {
		t.Errorf("Join/Name/Depth = %s %s %d", q, q.Name(), q.Depth())
	}
	if par, ok := q.Parent(); !ok || par != p {
		t.Errorf("Parent(%s) = %s, %v", q, par, ok)
	}
	if _, ok := RootPath.Parent(); ok {
		t.Error("Parent(/root) ok, want false")
	}
	if !q.HasPrefix(p) || !q.HasPrefix(RootPath) || (Path{"/root/ab"}).HasPrefix(p) {
		t.Error("HasPrefix wrong")
	}
	if _, err := RootPath.Join("x/y"); err == nil || err.Error() != "agent_name must not contain `/`" {
		t.Errorf("Join(x/y) = %v", err)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/root", "/root/a", "/root/", "x", "/root/a/b_c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		q, err := ParsePath(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePath(ParsePath(%q).String()) = %v, %v", s, q, err)
		}
	})
}
