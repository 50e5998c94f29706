package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testDSN = "postgres://u@127.0.0.1:5432/db"

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vecgate.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, args []string, env map[string]string) (*serveOptions, error) {
	t.Helper()
	var out bytes.Buffer
	return loadServeOptions(args, envMap(env), &out)
}

// TestConfigPrecedence: for each knob the command line beats the environment, which beats the
// config file, which beats the default; and each source is recorded.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `
# vecgate config
upstream = "`+testDSN+`"
max-conns = 300         # file only
dial_timeout = 3s       # file, overridden by env
startup-timeout = 7s    # file, overridden by env and flag
log-format = 'json'
`)
	env := map[string]string{
		"VECGATE_CONFIG":          path,
		"VECGATE_DIAL_TIMEOUT":    "4s",
		"VECGATE_STARTUP_TIMEOUT": "8s",
		"VECGATE_SLOT_NAME":       "envslot",
	}
	o, err := load(t, []string{"--startup-timeout", "9s"}, env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
		src       string
	}{
		{"upstream", o.proxy.Upstream, testDSN, path + ":3"},
		{"max-conns", o.proxy.MaxConns, 300, path + ":4"},
		{"dial-timeout", o.proxy.DialTimeout, 4 * time.Second, "environment variable VECGATE_DIAL_TIMEOUT"},
		{"startup-timeout", o.proxy.StartupTimeout, 9 * time.Second, "flag --startup-timeout"},
		{"log-format", o.logFormat, "json", path + ":7"},
		{"slot-name", o.slotName, "envslot", "environment variable VECGATE_SLOT_NAME"},
		{"primary", o.primary, "", "default"},
		{"listen", o.proxy.Listen, "127.0.0.1:5433", "default"},
		{"http-listen", o.httpListen, defaultHTTPListen, "default"},
		{"config", o.configFile, path, "environment variable VECGATE_CONFIG"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
		if got := o.sources[c.name].String(); got != c.src {
			t.Errorf("%s from %q, want %q", c.name, got, c.src)
		}
	}
	// --config on the command line beats VECGATE_CONFIG.
	other := writeConfig(t, "upstream = postgres://other@h/db\n")
	o, err = load(t, []string{"--config", other}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.proxy.Upstream != "postgres://other@h/db" || o.proxy.MaxConns != 1000 {
		t.Errorf("--config ignored: upstream %q, max-conns %d", o.proxy.Upstream, o.proxy.MaxConns)
	}
}

// TestConfigErrors: every bad input is refused with the knob and the source in the message.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		file string // config file text ("" for none)
		env  map[string]string
		args []string
		want []string // substrings of the error
	}{
		{name: "unknown key", file: "upstream = x\nmax_conn = 5\n", want: []string{":2:", `unknown setting "max-conn"`}},
		{name: "bad file value", file: "upstream = " + testDSN + "\n\nmax-conns = lots\n", want: []string{"max-conns", `"lots"`, "vecgate.conf:3"}},
		{name: "no equals", file: "upstream\n", want: []string{"vecgate.conf:1", "name = value"}},
		{name: "duplicate", file: "upstream = a\nupstream = b\n", want: []string{"vecgate.conf:2", "already set on line 1"}},
		{name: "unterminated quote", file: `upstream = "abc` + "\n", want: []string{"vecgate.conf:1", "upstream", "unterminated"}},
		{name: "config in file", file: "config = other\nupstream = " + testDSN + "\n", want: []string{"vecgate.conf:1", "config cannot be set"}},
		{name: "out of range in file", file: "upstream = " + testDSN + "\nmax-conns = 0\n", want: []string{"max-conns (from ", "vecgate.conf:2): 0 must be at least 1"}},
		{name: "bad env value", env: map[string]string{"VECGATE_UPSTREAM": testDSN, "VECGATE_DIAL_TIMEOUT": "soon"}, want: []string{"dial-timeout", `"soon"`, "VECGATE_DIAL_TIMEOUT"}},
		{name: "out of range env", env: map[string]string{"VECGATE_UPSTREAM": testDSN, "VECGATE_MAX_MESSAGE_SIZE": "10"}, want: []string{"max-message-size (from environment variable VECGATE_MAX_MESSAGE_SIZE): 10 is outside"}},
		{name: "bad flag", args: []string{"--upstream", testDSN, "--log-level", "loud"}, want: []string{"log-level (from flag --log-level)", `"loud"`}},
		{name: "unknown flag", args: []string{"--max-connections", "5"}, want: []string{"max-connections"}},
		{name: "missing upstream", want: []string{"upstream (from default): required"}},
		{name: "bad slot", args: []string{"--upstream", testDSN, "--slot-name", "Bad-Name"}, want: []string{"slot-name (from flag --slot-name)"}},
		{name: "bad http address", env: map[string]string{"VECGATE_UPSTREAM": testDSN, "VECGATE_HTTP_LISTEN": "nohostport"}, want: []string{"http-listen (from environment variable VECGATE_HTTP_LISTEN)"}},
		{name: "bad twin dims", args: []string{"--upstream", testDSN, "--twin-sq8-min-dims", "-1"}, want: []string{"twin-sq8-min-dims (from flag --twin-sq8-min-dims): -1 is outside 0..16000"}},
		{name: "bad recall sample", args: []string{"--upstream", testDSN, "--recall-sample", "1.5"}, want: []string{"recall-sample (from flag --recall-sample): 1.5 is outside 0..1"}},
		{name: "bad progress", args: []string{"--upstream", testDSN, "--progress", "sometimes"}, want: []string{"progress (from flag --progress)"}},
		{name: "bad primary", env: map[string]string{"VECGATE_UPSTREAM": testDSN, "VECGATE_PRIMARY": "postgres://h:notaport/db"}, want: []string{"primary (from environment variable VECGATE_PRIMARY)"}},
		{name: "tls half", args: []string{"--upstream", testDSN, "--tls-cert", "c.pem"}, want: []string{"tls-cert and tls-key go together"}},
		{name: "unreadable file", env: map[string]string{"VECGATE_CONFIG": "/nonexistent/vecgate.conf"}, want: []string{"config file", "/nonexistent/vecgate.conf", "from environment variable VECGATE_CONFIG"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeConfig(t, c.file)}, args...)
			}
			_, err := load(t, args, env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestServeHelp: -h lists every knob with its default and explains the sources.
func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := loadServeOptions([]string{"-h"}, envMap(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	help := out.String()
	o := &serveOptions{}
	fs := serveFlags(o, &bytes.Buffer{})
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "-"+f.Name) {
			t.Errorf("help does not list -%s", f.Name)
		}
		if f.Usage == "" {
			t.Errorf("-%s has no description", f.Name)
		}
	})
	for _, w := range []string{"VECGATE_MAX_CONNS", "VECGATE_CONFIG", "(default 1000)", `(default "` + defaultHTTPListen + `")`, "(default 10s)"} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q", w)
		}
	}
}

func TestConfigValue(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                 "plain",
		`plain # comment`:       "plain",
		`"a # b" # c`:           "a # b",
		`"tab\there"`:           "tab\there",
		`'C:\path' # win`:       `C:\path`,
		`postgres://u@h/db?x=1`: "postgres://u@h/db?x=1",
		``:                      "",
	} {
		got, err := configValue(in)
		if err != nil || got != want {
			t.Errorf("configValue(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`"open`, `'open`, `"a" b`} {
		if _, err := configValue(in); err == nil {
			t.Errorf("configValue(%q) accepted", in)
		}
	}
}
