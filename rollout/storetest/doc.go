// Package storetest is the conformance suite that every thread store must
// pass: creating threads and keeping their index rows current, reading,
// listing with filters and keyset cursors, the spawn tree (children,
// descendants, edge status), archive, unarchive, delete of subtrees,
// rebuild, and errors for bad input.
//
// A store is adapted to the Store interface below (its types are this
// package's, so that the suite depends on no store) and handed to Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store {
//			return adapt(openFreshStore(t))
//		})
//	}
//
// The factory is called once per subtest and must return a store over a
// fresh, empty home; the suite closes it. Errors must match (errors.Is) the
// sentinels of this package (ErrNotFound, ErrInvalidRequest,
// ErrInvalidCursor, ErrLive) or rollout.ErrInvalidThreadID and
// rollout.ErrUnsupportedHistoryMode. Subtests run in parallel with each
// other; each uses only its own store.
package storetest
