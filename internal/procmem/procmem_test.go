package procmem

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	r, err := parse([]byte("Name:\tx\nVmRSS:\t  300 kB\nRssAnon:\t  200 kB\nRssFile:\t   90 kB\nRssShmem:\t   10 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if (r != RSS{Anon: 200 << 10, File: 90 << 10, Shmem: 10 << 10}) || r.Total() != 300<<10 {
		t.Fatalf("parse: %+v", r)
	}
	if _, err := parse([]byte("Name:\tx\nRssAnon:\t200 kB\n")); err == nil {
		t.Fatal("parse without RssFile and RssShmem: no error")
	}
	if _, err := parse([]byte("RssAnon:\tlots kB\nRssFile:\t1 kB\nRssShmem:\t1 kB\n")); err == nil {
		t.Fatal("parse of a bad number: no error")
	}
}

// TestReadSeesAnonymousPages touches 64 MB of an anonymous mapping (outside the Go heap) and
// expects RssAnon to grow by about that much and RssFile not to.
func TestReadSeesAnonymousPages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RssAnon is Linux's")
	}
	before, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	for i := 0; i < size; i += os.Getpagesize() {
		m[i] = 1
	}
	grew, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	d := grew.Sub(before)
	if d.Anon < size*9/10 || d.Anon > size*2 {
		t.Fatalf("touching %d anonymous bytes grew RssAnon by %d", size, d.Anon)
	}
	if d.File > size/10 {
		t.Fatalf("touching anonymous pages grew RssFile by %d", d.File)
	}
}
