package telnet_test

import (
	"strings"
	"testing"

	"labd/config"
)

// TestShellInFrench: with server.language fr, the shell reached over
// Telnet (nc: line mode) answers in French. The login prompts are waited
// for by their ": " only, whatever their language.
func TestShellInFrench(t *testing.T) {
	addr, _, _ := startNC(t, func(c *config.Config) { c.Server.Language = "fr" })
	cl := dial(t, addr)
	cl.expect(": ")
	cl.sendString("bob\n")
	cl.expect(": ")
	cl.sendString("bob\n")
	cl.expect("bob@labd:~$ ")
	cl.sendString("frobnicate\n")
	if out := cl.expect("bob@labd:~$ "); !strings.Contains(out, "frobnicate: commande introuvable (tapez help pour la liste des commandes)") {
		t.Errorf("unknown command: %q", out)
	}
	cl.sendString("rm --help\n")
	if out := cl.expect("bob@labd:~$ "); !strings.Contains(out, "utilisation\u00a0: rm [-r] [-f] path...\r\nsupprime des fichiers (-r\u00a0: les répertoires aussi)") {
		t.Errorf("rm --help: %q", out)
	}
	cl.sendString("logout\n")
	cl.waitEOF()
}
