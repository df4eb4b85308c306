package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// leaves flattens a YAML document into key path -> value (a scalar, or a
// sequence or mapping without keys of its own, in flow form).
func leaves(t *testing.T, n *yaml.Node, prefix string, out map[string]string) {
	t.Helper()
	if n.Kind == yaml.DocumentNode {
		leaves(t, n.Content[0], prefix, out)
		return
	}
	if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		for i := 0; i+1 < len(n.Content); i += 2 {
			leaves(t, n.Content[i+1], prefix+n.Content[i].Value+".", out)
		}
		return
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	out[strings.TrimSuffix(prefix, ".")] = strings.TrimSpace(string(b))
}

// settings returns every key of a config with its value.
func settings(t *testing.T, c *Config) map[string]string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	leaves(t, &n, "", m)
	return m
}

// labd.yaml.example documents every key of the schema: set to its default,
// or, for lists and optional settings, as a commented-out "# key:" line in
// its section.
func TestExampleConfigComplete(t *testing.T) {
	ex, err := Load("../labd.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../labd.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	set := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], prefix)
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := prefix + n.Content[i].Value
			set[p] = true
			walk(n.Content[i+1], p+".")
		}
	}
	walk(ex.root, "")
	def, err := Parse("empty.yaml", []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for key := range settings(t, def) {
		// The first two levels name what an admin writes: section.key.
		parts := strings.SplitN(key, ".", 3)
		key = strings.Join(parts[:min(2, len(parts))], ".")
		if set[key] {
			continue
		}
		section, name, _ := strings.Cut(key, ".")
		body := sectionText(text, section)
		if body == "" {
			t.Errorf("labd.yaml.example has no %s: section", section)
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*#\s*` + regexp.QuoteMeta(name) + `:`).MatchString(body) {
			t.Errorf("labd.yaml.example does not document %s (set it to its default, or show it as a \"# %s:\" line in %s:)", key, name, section)
		}
	}
}

// Every value labd.yaml.example sets is what the key is without it: the
// example shows the defaults of a config file (the production profile),
// so that an admin reads there what labd does.
func TestExampleConfigIsDefaults(t *testing.T) {
	ex, err := Load("../labd.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	def, err := Parse("empty.yaml", []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The one value that cannot be a default: the example names a host,
	// the default is the machine's own name.
	allowed := map[string]bool{"server.hostname": true}
	got, want := settings(t, ex), settings(t, def)
	for key, v := range got {
		if !allowed[key] && v != want[key] {
			t.Errorf("labd.yaml.example sets %s to %s; the default is %s: show the default (an example value goes in a comment)", key, v, want[key])
		}
	}
}

// sectionText is the text of a top-level section, comments included.
func sectionText(text, section string) string {
	_, rest, ok := strings.Cut("\n"+text, "\n"+section+":")
	if !ok {
		return ""
	}
	if i := regexp.MustCompile(`\n[a-z_]+:`).FindStringIndex(rest); i != nil {
		rest = rest[:i[0]]
	}
	return rest
}
