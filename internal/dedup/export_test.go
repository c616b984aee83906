package dedup

import "fmt"

// CheckInvariants verifies the internal structure of every shard: each key is
// reachable from its home slot, the count is right, and each key in the table
// has exactly one matching ring entry.
func (s *Set) CheckInvariants() error {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		err := sh.check()
		sh.mu.Unlock()
		if err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return nil
}

func (sh *shard) check() error {
	count := 0
	for i, k := range sh.keys {
		if k == 0 {
			if sh.times[i] != 0 {
				return fmt.Errorf("empty slot %d has time %d", i, sh.times[i])
			}
			continue
		}
		count++
		for j := sh.home(k); j != i; j = sh.next(j) {
			if sh.keys[j] == 0 {
				return fmt.Errorf("key %#x at slot %d is cut off from its home %d by the empty slot %d", k, i, sh.home(k), j)
			}
		}
		if j, ok := sh.find(k); !ok || j != i {
			return fmt.Errorf("key %#x at slot %d is found at %d, %v", k, i, j, ok)
		}
	}
	if count != sh.count {
		return fmt.Errorf("count is %d, table holds %d", sh.count, count)
	}
	if sh.ring.n > len(sh.ring.keys) || sh.count > sh.ring.n {
		return fmt.Errorf("ring holds %d of %d with %d keys in the table", sh.ring.n, len(sh.ring.keys), sh.count)
	}
	matches := make(map[uint64]int)
	for j := range sh.ring.n {
		r := (sh.ring.head + j) % len(sh.ring.keys)
		k, t := sh.ring.keys[r], sh.ring.times[r]
		if i, ok := sh.find(k); ok && sh.times[i] == t {
			matches[k]++
		}
	}
	if len(matches) != count {
		return fmt.Errorf("%d keys in the table, %d with a ring entry", count, len(matches))
	}
	for k, n := range matches {
		if n != 1 {
			return fmt.Errorf("key %#x has %d matching ring entries", k, n)
		}
	}
	return nil
}
