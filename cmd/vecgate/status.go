package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vecgate/vecgate/observe"
)

// runStatus implements `vecgate status`: fetch /status from a running serve and print it.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := defaultHTTPListen
	if v, ok := os.LookupEnv(envName("http-listen")); ok && v != "" {
		addr = v
	}
	httpAddr := fs.String("http", addr, "address of serve's --http-listen (default from "+envName("http-listen")+")")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vecgate status [flags]\n\nPrints the live indexes, replication and initial-load progress of a running 'vecgate serve'.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("status: unexpected argument %q", fs.Arg(0))
	}
	url := *httpAddr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	url = strings.TrimSuffix(url, "/") + "/status"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("status: is 'vecgate serve' running with --http-listen %s? %w", *httpAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("status: read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status: %s: %s", url, resp.Status)
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var s observe.Status
	if err := json.Unmarshal(body, &s); err != nil {
		return fmt.Errorf("status: %s: %w", url, err)
	}
	return s.WriteText(stdout)
}
