// Command barehttp is the ceiling of net/http on this machine for
// bench/peers/run.sh's HTTP metrics: a bare net/http server, no recording,
// no timeouts, no HTTP/2, default GC, serving the same directory as labd
// and nginx. It is a measuring tool, not part of labd.
//
//	barehttp -listen 127.0.0.1:21180 -root DIR            # http.FileServer
//	barehttp -listen 127.0.0.1:21181 -root DIR -mem 1k.bin # one file from memory
//
// With -mem the handler writes the file's bytes kept in memory with the
// headers prepared once: what net/http itself costs per request, with no
// file system work at all. Without it, http.FileServer opens and stats the
// file on every request, as a plain Go file server does. -pprof serves
// Go's profiles on a second address, to compare with labd's
// server.debug_listen.
package main

import (
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof" // on -pprof's own listener (DefaultServeMux) only
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:21180", "address to serve on")
	root := flag.String("root", ".", "directory to serve")
	mem := flag.String("mem", "", "serve only this file of root, from memory")
	pprof := flag.String("pprof", "", "serve Go's profiles (/debug/pprof/) on this address too")
	flag.Parse()

	if *pprof != "" {
		go func() { log.Fatal(http.ListenAndServe(*pprof, nil)) }()
	}

	var h http.Handler = http.FileServer(http.Dir(*root))
	if *mem != "" {
		body, err := os.ReadFile(filepath.Join(*root, *mem))
		if err != nil {
			log.Fatal(err)
		}
		ctype := []string{"application/octet-stream"}
		clen := []string{strconv.Itoa(len(body))}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hd := w.Header()
			hd["Content-Type"] = ctype
			hd["Content-Length"] = clen
			w.Write(body)
		})
	}
	log.Fatal(http.ListenAndServe(*listen, h))
}
