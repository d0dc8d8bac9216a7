// Package archtest checks the architecture of the module: the import
// direction between packages, where each third-party module may be used,
// and that every package has a package comment in a doc.go.
package archtest
