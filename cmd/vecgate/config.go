package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Configuration sources. Every knob of a subcommand is a flag; the same knob can also come from
// its environment variable (VECGATE_ + the flag's name in upper case with '_' for '-') or from a
// line of the config file named by --config (or VECGATE_CONFIG). Precedence, highest first:
// command line, environment, config file, built-in default.
//
// The config file is plain text, one knob per line:
//
//	# comments start with '#'
//	listen    = 0.0.0.0:5433
//	upstream  = "postgres://vecgate@db:5432/app"   # quotes are optional
//	max-conns = 500
//
// Names are the flags' names (upstream, max-conns, …; '_' is accepted for '-'). An unknown name, a
// repeated name, a line without '=' or a value the knob does not accept is an error naming the
// file and line, so a typo never silently falls back to a default.

// configFlag is the flag (and, through envName, the variable) naming the config file.
const configFlag = "config"

// source says where a knob's value came from, for error messages and `serve -h`.
type source struct {
	kind string // "default", "flag", "env" or "file"
	name string // "--max-conns", "VECGATE_MAX_CONNS" or "vecgate.conf:3"
}

func (s source) String() string {
	switch s.kind {
	case "default":
		return "default"
	case "flag":
		return "flag " + s.name
	case "env":
		return "environment variable " + s.name
	}
	return s.name // file:line
}

// fileSetting is one knob set by the config file.
type fileSetting struct {
	value string
	line  int
}

// parseConfigFile reads a config file. It checks the syntax only; knob names and values are
// checked by applySources against the flag set.
func parseConfigFile(path string) (map[string]fileSetting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	out := map[string]fileSetting{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		where := fmt.Sprintf("%s:%d", path, n)
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: expected 'name = value', got %q", where, line)
		}
		key = strings.ReplaceAll(strings.TrimSpace(key), "_", "-")
		if key == "" {
			return nil, fmt.Errorf("%s: missing name before '='", where)
		}
		v, err := configValue(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, key, err)
		}
		if prev, dup := out[key]; dup {
			return nil, fmt.Errorf("%s: %s is already set on line %d", where, key, prev.line)
		}
		out[key] = fileSetting{value: v, line: n}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return out, nil
}

// configValue unquotes a value: "double-quoted" (Go/TOML escapes), 'single-quoted' (literal) or
// bare, where a '#' after whitespace starts a comment.
func configValue(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, `"`):
		end := closingQuote(v)
		if end < 0 {
			return "", errors.New("unterminated double quote")
		}
		s, err := strconv.Unquote(v[:end+1])
		if err != nil {
			return "", fmt.Errorf("bad quoted value %s: %w", v[:end+1], err)
		}
		if rest := strings.TrimSpace(v[end+1:]); rest != "" && rest[0] != '#' {
			return "", fmt.Errorf("unexpected %q after the quoted value", rest)
		}
		return s, nil
	case strings.HasPrefix(v, "'"):
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single quote")
		}
		if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != '#' {
			return "", fmt.Errorf("unexpected %q after the quoted value", rest)
		}
		return v[1 : end+1], nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	if i := strings.Index(v, "\t#"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}

// closingQuote is the index of the '"' ending the double-quoted string at the start of v, or -1.
func closingQuote(v string) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// applySources fills every flag not given on the command line from its environment variable or,
// failing that, from the config file (path from --config, else from VECGATE_CONFIG; "" for none).
// lookupEnv is os.LookupEnv outside tests. It returns where each knob's value came from.
func applySources(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) (map[string]source, error) {
	src := map[string]source{}
	fs.VisitAll(func(f *flag.Flag) { src[f.Name] = source{kind: "default"} })
	fs.Visit(func(f *flag.Flag) { src[f.Name] = source{kind: "flag", name: "--" + f.Name} })

	var file map[string]fileSetting
	var path string
	if cf := fs.Lookup(configFlag); cf != nil {
		if src[configFlag].kind != "flag" {
			if v, ok := lookupEnv(envName(configFlag)); ok {
				if err := fs.Set(configFlag, v); err != nil {
					return nil, fmt.Errorf("%s=%q: %w", envName(configFlag), v, err)
				}
				src[configFlag] = source{kind: "env", name: envName(configFlag)}
			}
		}
		if path = cf.Value.String(); path != "" {
			var err error
			if file, err = parseConfigFile(path); err != nil {
				return nil, fmt.Errorf("%w (from %s)", err, src[configFlag])
			}
		}
	}

	var errs []error
	for key, fv := range file {
		if key == configFlag {
			errs = append(errs, fmt.Errorf("%s:%d: %s cannot be set in a config file", path, fv.line, key))
			continue
		}
		if fs.Lookup(key) == nil {
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q (run with -h for the list)", path, fv.line, key))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if src[f.Name].kind != "default" {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			s := source{kind: "env", name: envName(f.Name)}
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: bad value %q from %s: %w", f.Name, v, s, err))
			}
			src[f.Name] = s
			return
		}
		if fv, ok := file[f.Name]; ok {
			s := source{kind: "file", name: fmt.Sprintf("%s:%d", path, fv.line)}
			if err := fs.Set(f.Name, fv.value); err != nil {
				errs = append(errs, fmt.Errorf("%s: bad value %q from %s: %w", f.Name, fv.value, s, err))
			}
			src[f.Name] = s
		}
	})
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	return src, nil
}

// sortErrors orders errors by message so that reports are stable (map iteration is not).
func sortErrors(errs []error) {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
}

// knobError reports a value that parsed but is out of range, naming the knob and its source.
func knobError(name string, src map[string]source, format string, args ...any) error {
	return fmt.Errorf("%s (from %s): %s", name, src[name], fmt.Sprintf(format, args...))
}
