package sharding

import "hash/fnv"

// Owner returns the member that owns key by rendezvous (highest random
// weight) hashing: every member scores the key, the highest score wins and
// ties go to the smaller id. It returns "" when members is empty.
//
// # Notes
//
//   - The result depends only on the set of members, not on their order, so
//     two replicas that see the same members agree on every key without
//     talking to each other.
//   - Removing a member moves only the keys it owned; adding one moves to it
//     only the keys it now wins, about 1/N of them.
func Owner(members []string, key string) string {
	best, bestScore := "", uint64(0)
	for _, m := range members {
		s := score(m, key)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

// score is the weight of member for key: FNV-1a over both, finished with a
// 64-bit mixer so that similar ids and keys still spread evenly.
func score(member, key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(member))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	return mix64(h.Sum64())
}

// mix64 is the finalizer of MurmurHash3: every input bit flips about half
// of the output bits.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
