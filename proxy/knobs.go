package proxy

import "maps"

// knobState is a session's knobs as Postgres holds them. A SET takes effect for the statements
// after it at once, but it is kept only if its transaction commits: an autocommit SET that fails
// (a value out of range), or that shares a Query string's implicit transaction with a statement
// that fails, lapses; so does a SET LOCAL at the end of its block, and any SET of a block that
// rolls back. A plain SET of a committed block stays.
//
// Each SET is resolved by the ReadyForQuery that ends its transaction, seen by the upstream
// reader (resolve); until then it is pending and applies on top of the settled values. The
// fields are guarded by the session's stateMu.
type knobState struct {
	settled map[string]string // values kept by committed transactions
	pending []pendingKnob     // SET/RESET sent whose transaction has not ended, in order
}

type pendingKnob struct {
	Knob
	// zLeft counts the ReadyForQuery messages still due for requests sent before this SET's:
	// they do not end its transaction.
	zLeft int
	// inBlock: the SET runs in an explicit transaction block, which must end with COMMIT for it
	// to stay.
	inBlock bool
}

// add records a SET or RESET about to be sent upstream, st being the session's state.
func (k *knobState) add(n Knob, st State) {
	k.pending = append(k.pending, pendingKnob{
		Knob:    n,
		zLeft:   st.Pending,
		inBlock: n.Block || st.TxStatus == 'T' || st.TxStatus == 'E',
	})
}

// resolve takes a ReadyForQuery with status tx. For a SET whose statement it answers: an idle
// status ends its transaction (committed: that transaction ended with a COMMIT tag; failed: the
// request answered had an error or a ROLLBACK); another status means a BEGIN later in its Query
// string opened a block around it.
func (k *knobState) resolve(tx byte, committed, failed bool) {
	if len(k.pending) == 0 {
		return
	}
	keep := k.pending[:0]
	for _, p := range k.pending {
		if p.zLeft > 0 {
			p.zLeft--
			if p.zLeft == 0 {
				// The request before the SET's has ended: its status says whether the SET runs
				// in a block (a pipelined COMMIT before it ended one).
				p.inBlock = p.Block || tx != 'I'
			}
			keep = append(keep, p)
			continue
		}
		if tx != 'I' {
			p.inBlock = true
			keep = append(keep, p)
			continue
		}
		if !p.Local && (p.inBlock && committed || !p.inBlock && !failed) {
			// A new map: values handed out earlier may still be read by the client goroutine.
			k.settled = p.apply(maps.Clone(k.settled))
		}
	}
	clear(k.pending[len(keep):])
	k.pending = keep
}

// values returns the knobs in force for a statement sent now: the settled values with every
// pending SET applied in order.
func (k *knobState) values() map[string]string {
	if len(k.pending) == 0 {
		return k.settled
	}
	m := make(map[string]string, len(k.settled)+len(k.pending))
	for name, v := range k.settled {
		m[name] = v
	}
	for _, p := range k.pending {
		m = p.apply(m)
	}
	return m
}

// apply returns m (allocated when nil) with the SET or RESET done.
func (n Knob) apply(m map[string]string) map[string]string {
	switch {
	case n.Reset && n.Name == "":
		clear(m)
	case n.Reset:
		delete(m, n.Name)
	default:
		if m == nil {
			m = map[string]string{}
		}
		m[n.Name] = n.Value
	}
	return m
}
