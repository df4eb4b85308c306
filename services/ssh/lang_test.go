package ssh_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"labd/config"
)

// TestShellInFrench: with server.language fr, the lab shell reached over
// SSH answers in French (exec and an interactive PTY session), while
// command names and options stay as they are.
func TestShellInFrench(t *testing.T) {
	e := start(t, func(c *config.Config) {
		c.Server.Language = "fr"
		c.Shell.Motd = config.DefaultMotd("fr")
	})
	c := e.login(t)
	for _, tc := range []struct {
		cmd, stdout, stderr string
		status              int
	}{
		{cmd: "frobnicate", status: 127, stderr: "frobnicate: commande introuvable (tapez help pour la liste des commandes)"},
		{cmd: "cat /etc/passwd", status: 1, stderr: "permission refusée (le shell de TP n'accède qu'à votre répertoire personnel)"},
		{cmd: "grep -P x", status: 2, stderr: "grep: l'option -P n'est pas prise en charge\u202f; utilisez -E\nutilisation\u00a0: grep"},
		{cmd: "ls --help", stdout: "utilisation\u00a0: ls [-l] [-a] [path...]\nliste un répertoire\n"},
		{cmd: "man mail", stdout: "liste la boîte de réception (INBOX), lit le message N, envoie un courriel"},
	} {
		o, eb, status := runStatus(t, c, tc.cmd)
		if status != tc.status || !strings.Contains(o, tc.stdout) || !strings.Contains(eb, tc.stderr) {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want %d, %q, %q", tc.cmd, status, o, eb, tc.status, tc.stdout, tc.stderr)
		}
	}

	tm := openPTY(t, c, nil)
	prompt := "alice@labd:~$ "
	if motd := tm.until(prompt); !strings.Contains(motd, "Bienvenue dans le shell de TP de labd") {
		t.Errorf("motd: %q", motd)
	}
	tm.send("help\r")
	out := tm.until(prompt)
	for _, want := range []string{
		"Commandes du shell de TP (il ne lance aucun programme de la machine et ne voit que votre répertoire personnel)\u00a0:",
		"ls [-l] [-a] [path...]          liste un répertoire",
		"Commandes internes du shell\u00a0:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help over a PTY: %q missing in %q", want, out)
		}
	}
	tm.send("cd nowhere\r")
	if out := tm.until(prompt); !strings.Contains(out, "cd: nowhere: Aucun fichier ou dossier de ce type") {
		t.Errorf("cd nowhere: %q", out)
	}
	tm.send("exit\r")
	if err := tm.s.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// runStatus runs cmd in a session of its own: stdout, stderr, exit status.
func runStatus(t *testing.T, c *gossh.Client, cmd string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var o, eb bytes.Buffer
	s.Stdout, s.Stderr = &o, &eb
	err = s.Run(cmd)
	status := 0
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitStatus()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), eb.String(), status
}
