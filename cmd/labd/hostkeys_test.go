package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostkeysCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "labd.yaml")
	yaml := "server:\n  data_dir: " + filepath.Join(dir, "data") + "\n  listen: [127.0.0.1]\n  port_offset: 10000\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out1, out2, errb bytes.Buffer
	if code := run(context.Background(), []string{"hostkeys", "--config", cfg}, &out1, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out1.String(), "generated now") {
		t.Errorf("first run does not say the keys were generated:\n%s", out1.String())
	}
	for _, want := range []string{"ssh-ed25519 256  SHA256:", "ssh-rsa 3072  SHA256:", "plink -batch -P 10022 -hostkey SHA256:", "[127.0.0.1]:10022 ssh-ed25519 AAAA"} {
		if !strings.Contains(out1.String(), want) {
			t.Errorf("no %q in:\n%s", want, out1.String())
		}
	}
	if code := run(context.Background(), []string{"hostkeys", "--config", cfg}, &out2, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// Same keys the second time, nothing generated.
	first := out1.String()[strings.Index(out1.String(), "SSH host keys"):]
	if out2.String() != first {
		t.Errorf("second run differs:\n%s\n---\n%s", out2.String(), first)
	}
}
