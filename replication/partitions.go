package replication

import "github.com/vecgate/vecgate/catalog"

// ParentFollower is implemented by an Applier that answers queries on partitioned tables from
// the twins of their leaf partitions (each leaf is replicated as a table of its own; a
// publication holds no partitioned parent: catalog skips it). The stream gives it every
// partitioned table of the catalog, with its leaves, each time it reads the catalog: at the
// start of a session and at each catalog check (a catalog event at the commit of an ATTACH,
// DETACH or CREATE … PARTITION OF, or the periodic check), before the loads that check starts,
// so a new leaf is known as loading until its twins are published.
type ParentFollower interface {
	SetParents(parents []catalog.Table)
}

// followParents hands cat's partitioned tables to the Applier, when it follows them.
func (s *Stream) followParents(cat *catalog.Catalog) {
	pf, ok := s.cfg.Applier.(ParentFollower)
	if !ok {
		return
	}
	var parents []catalog.Table
	for _, t := range cat.Tables {
		if t.Partitioned {
			parents = append(parents, t)
		}
	}
	pf.SetParents(parents)
}
