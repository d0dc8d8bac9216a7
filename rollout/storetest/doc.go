// Package storetest is the conformance suite that every thread store must
// pass. Call Run from a test with a factory that opens a fresh store.
package storetest
