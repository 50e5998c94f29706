package observe

import (
	"net/http"
	"testing"
)

// TestServeDebug: pprof is served on its own listener until Close; the endpoints of Serve are
// not on it.
func TestServeDebug(t *testing.T) {
	o := New(Source{}, Config{})
	addr, err := o.ServeDebug("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, error) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("/debug/pprof/"); err != nil || code != http.StatusOK {
		t.Errorf("/debug/pprof/: %d %v", code, err)
	}
	if code, err := get("/metrics"); err != nil || code != http.StatusNotFound {
		t.Errorf("/metrics on the debug listener: %d %v", code, err)
	}
	o.Close()
	if _, err := get("/debug/pprof/"); err == nil {
		t.Error("pprof still served after Close")
	}
}
