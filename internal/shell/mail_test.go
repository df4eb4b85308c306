package shell

import (
	"context"
	"testing"
	"time"
)

// TestMailCharsets: mail decodes with go-message, like the dashboard:
// charsets other than UTF-8, multipart, attachments listed.
func TestMailCharsets(t *testing.T) {
	sh, deps := newShell(t)
	ctx := context.Background()
	latin1 := "From: =?iso-8859-1?q?Andr=E9?= <andre@lab.test>\r\nTo: alice@lab.test\r\nSubject: =?iso-8859-1?q?R=E9union?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 \xe0 midi.\r\n"
	multi := "From: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: multipart\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=93quoted=94 text\r\n" +
		"--XX\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=dot.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--XX--\r\n"
	for _, m := range []string{latin1, multi} {
		if err := deps.Store.Deliver(ctx, []string{"alice"}, []byte(m), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	runSteps(t, sh, []step{
		{line: "mail", out: "Réunion"},
		{line: "mail 1", out: "Subject: Réunion\n"},
		{line: "mail 1", out: "From: André <andre@lab.test>\n"},
		{line: "mail 1", out: "Café à midi.\n"},
		{line: "mail 2", out: "\u201cquoted\u201d text\n"},
		{line: "mail 2", out: "[also in this message: image/png dot.png (8 bytes)]"},
	})
}
