package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// migrationName is golang-migrate's file name pattern (source.Regex): anything that matches it is
// read as a migration by the iofs source, whatever its extension.
var migrationName = regexp.MustCompile(`^([0-9]+)_(.*)\.(up|down)\.(.*)$`)

// files is one migration version: its up and down file names ("" when absent).
type files struct {
	up, down string
}

// set is a checked folder of migrations.
type set struct {
	fsys     fs.FS
	root     string // path of the folder inside fsys
	label    string // how errors name the folder
	versions []uint // ascending
	byVer    map[uint]*files
}

// scan reads a migration folder and refuses anything golang-migrate would silently skip or
// misread: misnamed .sql files, migration-like names with another extension, duplicate versions.
func scan(fsys fs.FS, root, label string) (*set, error) {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", label, err)
	}
	s := &set{fsys: fsys, root: root, label: label, byVer: map[uint]*files{}}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			if strings.HasSuffix(strings.ToLower(name), ".sql") {
				return nil, fmt.Errorf("%s: %s is not a migration file name: name it NNN_title.up.sql or NNN_title.down.sql (e.g. 000001_%s.up.sql), or move it out of the folder",
					label, name, strings.TrimSuffix(name, path.Ext(name)))
			}
			continue // README.md and the like
		}
		if m[4] != "sql" {
			return nil, fmt.Errorf("%s: %s looks like a migration but does not end in .%s.sql: golang-migrate would run it as one; rename or remove it",
				label, name, m[3])
		}
		v, err := strconv.ParseUint(m[1], 10, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: version %s: %w", label, name, m[1], err)
		}
		ver := uint(v)
		f := s.byVer[ver]
		if f == nil {
			f = &files{}
			s.byVer[ver] = f
			s.versions = append(s.versions, ver)
		}
		slot := &f.up
		if m[3] == "down" {
			slot = &f.down
		}
		if *slot != "" {
			return nil, fmt.Errorf("%s: %s and %s both are the %s migration of version %d: renumber one of them",
				label, *slot, name, m[3], ver)
		}
		*slot = name
	}
	if len(s.versions) == 0 {
		return nil, fmt.Errorf("%s: no migration files (NNN_title.up.sql / NNN_title.down.sql)", label)
	}
	slices.Sort(s.versions)
	return s, nil
}

// latest is the highest version in the folder.
func (s *set) latest() uint { return s.versions[len(s.versions)-1] }

// has reports whether v is a version of the folder.
func (s *set) has(v int) bool { return v >= 0 && s.byVer[uint(v)] != nil }

// prev is the version before v, or -1 when v is the first.
func (s *set) prev(v uint) int {
	i, _ := slices.BinarySearch(s.versions, v)
	if i == 0 {
		return -1
	}
	return int(s.versions[i-1])
}

// next is the first version after v (v may be -1), or -1 when there is none.
func (s *set) next(v int) int {
	for _, x := range s.versions {
		if int(x) > v {
			return int(x)
		}
	}
	return -1
}

// pending lists the versions above cur, ascending.
func (s *set) pending(cur int) []uint {
	var out []uint
	for _, x := range s.versions {
		if int(x) > cur {
			out = append(out, x)
		}
	}
	return out
}

// applied lists the versions at or below cur, descending (the order down runs them).
func (s *set) applied(cur int) []uint {
	var out []uint
	for i := len(s.versions) - 1; i >= 0; i-- {
		if int(s.versions[i]) <= cur {
			out = append(out, s.versions[i])
		}
	}
	return out
}

// needUp checks that every version in vs has an up file.
func (s *set) needUp(vs []uint) error {
	if v, ok := s.missing(vs, true); ok {
		return fmt.Errorf("%s: version %d has no up file (%s has no .up.sql beside it): golang-migrate would record it as applied without running anything; add the file, nothing was changed",
			s.label, v, s.byVer[v].down)
	}
	return nil
}

// needDown checks that every version in vs has a down file.
func (s *set) needDown(vs []uint) error {
	if v, ok := s.missing(vs, false); ok {
		return fmt.Errorf("%s: version %d has no down file (%s has no .down.sql beside it): it cannot be undone by `down`; add the file, nothing was changed",
			s.label, v, s.byVer[v].up)
	}
	return nil
}

// missing returns the first version in vs without a file in direction up or down.
func (s *set) missing(vs []uint, up bool) (uint, bool) {
	for _, v := range vs {
		f := s.byVer[v].down
		if up {
			f = s.byVer[v].up
		}
		if f == "" {
			return v, true
		}
	}
	return 0, false
}

// file names the file of version v in direction up or down.
func (s *set) file(v int, up bool) string {
	if !s.has(v) {
		return ""
	}
	if up {
		return s.byVer[uint(v)].up
	}
	return s.byVer[uint(v)].down
}

func (s *set) listVersions() string {
	parts := make([]string, len(s.versions))
	for i, v := range s.versions {
		parts[i] = strconv.FormatUint(uint64(v), 10)
	}
	return strings.Join(parts, ", ")
}
