package mail

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-x, windows-125x... text parts
)

// Part is one node of a message's MIME tree, as the dashboard and the lab
// shell's mail show it: one decoder (go-message, with charsets) for both.
type Part struct {
	Path        string // "1", "1.2"...
	Depth       int
	ContentType string
	Params      map[string]string
	Encoding    string // Content-Transfer-Encoding as sent
	Disposition string
	Filename    string
	Multipart   bool
	Size        int    // decoded size of a leaf
	Text        string // decoded text of a text/* leaf (bounded), in UTF-8
	Error       string
}

// MaxPartText bounds the text kept of one part.
const MaxPartText = 256 << 10

// MIMETree walks a message. Text leaves are decoded (transfer encoding and
// charset); other leaves only report their size.
func MIMETree(raw []byte) (message.Header, []Part, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		return message.Header{}, nil, err
	}
	var parts []Part
	var walk func(e *message.Entity, path string, depth int)
	walk = func(e *message.Entity, path string, depth int) {
		ct, params, _ := e.Header.ContentType()
		if ct == "" {
			ct = "text/plain"
		}
		p := Part{Path: path, Depth: depth, ContentType: ct, Params: params,
			Encoding: e.Header.Get("Content-Transfer-Encoding")}
		if disp, dp, err := e.Header.ContentDisposition(); err == nil {
			p.Disposition, p.Filename = disp, dp["filename"]
		}
		if mr := e.MultipartReader(); mr != nil {
			p.Multipart = true
			parts = append(parts, p)
			if depth >= 20 {
				return
			}
			for i := 1; ; i++ {
				child, err := mr.NextPart()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						parts = append(parts, Part{Path: path, Depth: depth + 1, Error: err.Error()})
					}
					break
				}
				cp := strconv.Itoa(i)
				if path != "" {
					cp = path + "." + cp
				}
				walk(child, cp, depth+1)
			}
			return
		}
		body, err := io.ReadAll(io.LimitReader(e.Body, 16<<20))
		if err != nil {
			p.Error = err.Error()
		}
		p.Size = len(body)
		if strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "message/") {
			if len(body) > MaxPartText {
				body = body[:MaxPartText]
			}
			p.Text = string(bytes.ToValidUTF8(body, []byte("\uFFFD")))
		}
		parts = append(parts, p)
	}
	walk(e, "", 0)
	if message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
		err = nil
	}
	return e.Header, parts, err
}

// HeaderText is a header field decoded (RFC 2047, charsets), or as it is
// when it cannot be.
func HeaderText(h message.Header, key string) string {
	if v, err := h.Text(key); err == nil {
		return v
	}
	return h.Get(key)
}
