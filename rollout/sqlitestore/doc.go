// Package sqlitestore owns the SQLite index of threads (metadata, spawn
// edges, projected items) and the Store that puts rollout files and the
// index together. It is the only package that imports modernc.org/sqlite.
package sqlitestore
