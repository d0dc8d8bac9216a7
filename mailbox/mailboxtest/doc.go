// Package mailboxtest provides helpers for tests of code that uses mailbox:
// a sealer with a fixed test key, a way to tamper with its envelopes, and a
// drain of an inbox that acknowledges everything it takes.
//
// The helpers use real mailbox types (a real AES-256-GCM sealer, a real
// inbox); nothing is mocked. The test key is public: never use it outside
// tests.
//
// Concurrency: Sealer values are safe for concurrent use; Drain must be
// called from the goroutine that owns the inbox's receiving side.
package mailboxtest
