// Command tcprelay is the floor any user-space Postgres proxy pays on a machine: it accepts TCP
// connections and copies bytes both ways to an upstream with io.Copy, understanding nothing.
// scripts/bench-proxy measures vecgate against it.
package main

import (
	"flag"
	"io"
	"log"
	"net"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:55434", "address to accept on")
	upstream := flag.String("upstream", "127.0.0.1:55432", "host:port to relay to")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", *upstream)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			_, _ = io.Copy(c, u)
		}()
	}
}
