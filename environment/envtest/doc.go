// Package envtest holds fakes and a conformance suite for environments.
package envtest
