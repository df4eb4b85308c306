package shell

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"time"
)

// cmdCurl is a small curl: GET, HEAD, POST over HTTP and HTTPS with the
// lab CA trusted, through the shell's one dialer.
func cmdCurl(s *Shell, c *call) int {
	var (
		method, data                                               string
		headers                                                    []string
		verbose, insecure, head, include, silent, follow, failHTTP bool
		target                                                     string
		maxTime                                                    = 30 * time.Second
	)
	var args []string
	for _, a := range c.args {
		// -sIk: flags that take no value can be grouped.
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.Trim(a[1:], "vkIisSLf") == "" {
			for _, f := range a[1:] {
				args = append(args, "-"+string(f))
			}
			continue
		}
		args = append(args, a)
	}
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		need := func() (string, bool) {
			if len(args) == 0 {
				c.usageError("%s needs a value", a)
				return "", false
			}
			v := args[0]
			args = args[1:]
			return v, true
		}
		var ok = true
		switch a {
		case "-v", "--verbose":
			verbose = true
		case "-k", "--insecure":
			insecure = true
		case "-I", "--head":
			head = true
		case "-i", "--include":
			include = true
		case "-s", "--silent", "-sS", "-S":
			silent = true
		case "-L", "--location":
			follow = true
		case "-f", "--fail":
			failHTTP = true
		case "-X", "--request":
			method, ok = need()
		case "-d", "--data":
			data, ok = need()
		case "-H", "--header":
			var h string
			h, ok = need()
			headers = append(headers, h)
		case "-m", "--max-time":
			var v string
			v, ok = need()
			if d, err := time.ParseDuration(v + "s"); err == nil {
				maxTime = d
			}
		default:
			if strings.HasPrefix(a, "-") {
				if h, found := hints["curl "+a]; found {
					c.usageError("%s is not supported; %s", a, c.sh.t(h))
				} else {
					c.usageError("%s is not supported; use -v -k -I -i -s -L -f -X -d -H -m", a)
				}
				return 2
			}
			target = a
		}
		if !ok {
			return 2
		}
	}
	if target == "" {
		c.usageError("%s", "curl [-v] [-k] [-I] URL")
		return 2
	}
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		fmt.Fprintf(c.err, "curl: (1) %s\n", s.tf("Protocol %q not supported here; use http:// or https://", u.Scheme))
		return 1
	}
	if method == "" {
		switch {
		case head:
			method = "HEAD"
		case data != "":
			method = "POST"
		default:
			method = "GET"
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, maxTime)
	defer cancel()
	var body io.Reader
	if data != "" {
		body = strings.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		fmt.Fprintf(c.err, "curl: (3) %v\n", err)
		return 3
	}
	req.Header.Set("User-Agent", "curl/8 (labd lab shell)")
	req.Header.Set("Accept", "*/*")
	if data != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range headers {
		k, v, found := strings.Cut(h, ":")
		if !found {
			c.usageError("-H takes \"Name: value\"")
			return 2
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: insecure}
	if s.env.Deps.TLS != nil {
		tlsCfg.RootCAs = s.env.Deps.TLS.CertPool()
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			conn, err := s.dial(ctx, "tcp", host, port, "curl "+target)
			if err == nil && verbose {
				fmt.Fprintf(c.err, "*   Trying %s...\n* Connected to %s (%s) port %s\n", conn.RemoteAddr(), host, conn.RemoteAddr().(interface{ String() string }).String(), port)
			}
			return conn, err
		},
		TLSClientConfig:   tlsCfg,
		ForceAttemptHTTP2: false,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if !follow {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	var sent bytes.Buffer
	if verbose {
		trace := &httptrace.ClientTrace{
			TLSHandshakeDone: func(st tls.ConnectionState, err error) {
				if err == nil {
					fmt.Fprintf(c.err, "* SSL connection using %s / %s\n", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
					if len(st.PeerCertificates) > 0 {
						fmt.Fprintf(c.err, "* Server certificate:\n*  subject: %s\n*  issuer: %s\n", subjectLine(st.PeerCertificates[0]), issuerLine(st.PeerCertificates[0]))
					}
				}
			},
			WroteHeaderField: func(k string, v []string) {
				if k == "Host" {
					return
				}
				fmt.Fprintf(&sent, "> %s: %s\n", k, strings.Join(v, ", "))
			},
			WroteHeaders: func() {
				path := req.URL.RequestURI()
				fmt.Fprintf(c.err, "> %s %s HTTP/1.1\n> Host: %s\n%s>\n", method, path, req.URL.Host, sent.String())
			},
		}
		req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	}
	resp, err := client.Do(req)
	if err != nil {
		code := 7
		msg := err.Error()
		if strings.Contains(msg, "certificate") {
			code = 60
			msg += " (the lab CA is trusted; -k skips the check)"
		}
		fmt.Fprintf(c.err, "curl: (%d) %s\n", code, msg)
		return code
	}
	defer resp.Body.Close()
	var head2 strings.Builder
	fmt.Fprintf(&head2, "%s %s\n", resp.Proto, resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(&head2, "%s: %s\n", k, v)
		}
	}
	if verbose {
		for _, l := range strings.Split(strings.TrimSuffix(head2.String(), "\n"), "\n") {
			fmt.Fprintf(c.err, "< %s\n", l)
		}
		fmt.Fprintln(c.err, "<")
	}
	if head || include {
		io.WriteString(c.out, strings.ReplaceAll(head2.String(), "\n", "\r\n")+"\r\n")
	}
	if !head {
		if _, err := io.Copy(c.out, resp.Body); err != nil {
			fmt.Fprintf(c.err, "curl: (23) %v\n", err)
			return 23
		}
	}
	if verbose {
		fmt.Fprintf(c.err, "* Closing connection\n")
	}
	_ = silent
	if failHTTP && resp.StatusCode >= 400 {
		fmt.Fprintf(c.err, "curl: (22) The requested URL returned error: %d\n", resp.StatusCode)
		return 22
	}
	return 0
}
