package config

import (
	"strings"
	"testing"
)

func TestNodeDefaultAndValidation(t *testing.T) {
	for host, want := range map[string]string{
		"labhost":               "labhost",
		"Lab_PC.example.org":    "lab-pc",
		"-x-":                   "x",
		"":                      "labd",
		"é":                     "labd",
		strings.Repeat("a", 40): strings.Repeat("a", 32),
	} {
		if got := defaultNode(host); got != want || !validNode.MatchString(got) {
			t.Errorf("defaultNode(%q) = %q, want %q (valid)", host, got, want)
		}
	}
	for node, ok := range map[string]bool{"room-a": true, "b2": true, "Room": false, "a_b": false, "-a": false, "a-": false, strings.Repeat("a", 33): false, "a.b": false} {
		c := LabEphemeral(t.TempDir())
		c.Server.Node = node
		err := c.Validate()
		if (err == nil) != ok {
			t.Errorf("server.node %q: %v, want ok=%v", node, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "server.node") {
			t.Errorf("error does not name server.node: %v", err)
		}
	}
	c, err := Parse("x.yaml", []byte("server:\n  hostname: Room-B.lab.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Node != "room-b" {
		t.Errorf("node from hostname: %q", c.Server.Node)
	}
}
