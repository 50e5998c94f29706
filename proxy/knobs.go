package proxy

// knobState is a session's knobs as Postgres would hold them: values SET outside a transaction
// block apply at once; inside a block they are tentative until it ends — a SET LOCAL (or any SET
// of a block that rolls back) lapses, a plain SET of a committed block stays.
type knobState struct {
	session map[string]string // values in force outside any block
	txn     []Knob            // SET/RESET seen since the session was last idle, in order
	idles   uint64            // State.Idles when txn began
}

// fold ends the tentative knobs once the transaction they belong to has ended (the session went
// idle since): a committed block's plain SETs join the session's values, the rest lapse.
func (k *knobState) fold(st State) {
	if len(k.txn) == 0 || st.Idles == k.idles {
		return
	}
	if st.Committed {
		for _, n := range k.txn {
			if !n.Local {
				k.session = n.apply(k.session)
			}
		}
	}
	k.txn = nil
}

// add records a SET or RESET sent while the session is in state st.
func (k *knobState) add(n Knob, st State) {
	k.fold(st)
	if !n.Local && !n.Block && st.TxStatus != 'T' && st.TxStatus != 'E' {
		k.session = n.apply(k.session)
		return
	}
	if len(k.txn) == 0 {
		k.idles = st.Idles
	}
	k.txn = append(k.txn, n)
}

// values returns the knobs in force for a statement sent now (state gives the session's
// state, asked only when a block's knobs are pending: this runs for every Query).
func (k *knobState) values(state func() State) map[string]string {
	if len(k.txn) == 0 {
		return k.session
	}
	k.fold(state())
	if len(k.txn) == 0 {
		return k.session
	}
	m := make(map[string]string, len(k.session)+len(k.txn))
	for name, v := range k.session {
		m[name] = v
	}
	for _, n := range k.txn {
		m = n.apply(m)
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
