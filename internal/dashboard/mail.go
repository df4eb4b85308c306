package dashboard

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-x, windows-125x... text parts

	"labd/internal/store"
)

// Part is one node of a message's MIME tree.
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
	Text        string // decoded text of a text/* leaf (bounded)
	Error       string
}

type msgSummary struct {
	UID     uint32
	From    string
	To      string
	Subject string
	Date    string
	Size    int64
	Flags   []string
}

const maxText = 256 << 10

// mimeTree walks a message. Text leaves are decoded (transfer encoding and
// charset); other leaves only report their size.
func mimeTree(raw []byte) (message.Header, []Part, error) {
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
			if len(body) > maxText {
				body = body[:maxText]
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

func summarize(uid uint32, m store.Message, raw []byte) msgSummary {
	s := msgSummary{UID: uid, Size: m.Size, Flags: m.Flags}
	e, _ := message.Read(bytes.NewReader(raw))
	if e != nil {
		h := e.Header
		s.From = decodeHeader(h, "From")
		s.To = decodeHeader(h, "To")
		s.Subject = decodeHeader(h, "Subject")
		s.Date = h.Get("Date")
	}
	return s
}

func decodeHeader(h message.Header, key string) string {
	if v, err := h.Text(key); err == nil {
		return v
	}
	return h.Get(key)
}

type headerField struct{ Key, Value string }

func (d *Dashboard) mailPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx := r.Context()
	users, err := d.deps.Store.ListUsers(ctx)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	data := map[string]any{"Users": users}
	user := store.NormalizeUser(q.Get("user"))
	if user == "" {
		d.render(w, r, http.StatusOK, "mail", data)
		return
	}
	boxes, err := d.deps.Store.Mailboxes(ctx, user)
	if err != nil {
		d.fail(w, r, http.StatusNotFound, "No such user.")
		return
	}
	data["User"], data["Boxes"] = user, boxes
	boxName := q.Get("box")
	if boxName == "" {
		d.render(w, r, http.StatusOK, "mail", data)
		return
	}
	box, err := d.deps.Store.Mailbox(ctx, user, boxName)
	if err != nil {
		d.fail(w, r, http.StatusNotFound, "No such mailbox.")
		return
	}
	data["Box"] = box
	if u := q.Get("uid"); u != "" {
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			d.fail(w, r, http.StatusNotFound, "No such message.")
			return
		}
		raw, err := d.deps.Store.Body(ctx, box.ID, uint32(uid))
		if err != nil {
			d.fail(w, r, http.StatusNotFound, "No such message.")
			return
		}
		if q.Get("raw") == "1" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Disposition", "inline; filename=\"message-"+u+".eml\"")
			_, _ = w.Write(raw)
			return
		}
		h, parts, perr := mimeTree(raw)
		var fields []headerField
		hf := h.Fields()
		for hf.Next() {
			v, err := hf.Text()
			if err != nil {
				v = hf.Value()
			}
			fields = append(fields, headerField{hf.Key(), v})
		}
		data["UID"], data["Headers"], data["Parts"] = uid, fields, parts
		if perr != nil {
			data["ParseError"] = perr.Error()
		}
		d.render(w, r, http.StatusOK, "mail", data)
		return
	}
	msgs, err := d.deps.Store.Messages(ctx, box.ID)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	var list []msgSummary
	for i := len(msgs) - 1; i >= 0 && len(list) < 500; i-- {
		m := msgs[i]
		raw, err := d.deps.Store.Body(ctx, box.ID, m.UID)
		if err != nil {
			continue
		}
		if len(raw) > 64<<10 {
			raw = headerOnly(raw)
		}
		list = append(list, summarize(m.UID, m, raw))
	}
	data["Messages"] = list
	d.render(w, r, http.StatusOK, "mail", data)
}

// headerOnly cuts a large message after its header.
func headerOnly(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+4]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[:i+2]
	}
	return raw
}
