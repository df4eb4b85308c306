package dashboard

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/emersion/go-message"

	"labd/internal/mail"
	"labd/internal/store"
)

// Part is one node of a message's MIME tree (internal/mail decodes for the
// dashboard and the lab shell alike).
type Part = mail.Part

type msgSummary struct {
	UID     uint32
	From    string
	To      string
	Subject string
	Date    string
	Size    int64
	Flags   []string
}

// mimeTree walks a message (internal/mail.MIMETree).
func mimeTree(raw []byte) (message.Header, []Part, error) { return mail.MIMETree(raw) }

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

func decodeHeader(h message.Header, key string) string { return mail.HeaderText(h, key) }

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
