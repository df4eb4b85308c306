package shell

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBuiltins runs each builtin with its main options.
func TestBuiltins(t *testing.T) {
	sh, deps := newShell(t)
	home := deps.Layout.Home("alice")
	files := map[string]string{
		"f.txt":         "apple\nBanana\ncherry\napple pie\n",
		"nums.txt":      "10\n9\n100\n9\n",
		"crlf.txt":      "HELO x\r\n",
		"cols.txt":      "a:1:x\nb:2:y\nc:3:z\n",
		"dir/sub/a.txt": "in a\n",
		"dir/b.html":    "<html><body>hi</body></html>\n",
		"old.txt":       "one\ntwo\nthree\n",
		"new.txt":       "one\n2\nthree\nfour\n",
	}
	for name, body := range files {
		p := filepath.Join(home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runSteps(t, sh, []step{
		// grep
		{line: "grep apple f.txt", out: "apple\napple pie\n"},
		{line: "grep -i banana f.txt", out: "Banana\n"},
		{line: "grep -v apple f.txt", out: "Banana\ncherry\n"},
		{line: "grep -n cherry f.txt", out: "3:cherry\n"},
		{line: "grep -c apple f.txt", out: "2\n"},
		{line: "grep -E 'ch|Ba' f.txt", out: "Banana\ncherry\n"},
		{line: "grep 'a\\|c' f.txt | wc -l", out: "4\n"},
		{line: "grep -r 'in a' dir", out: "dir/sub/a.txt:in a\n"},
		{line: "grep -rl html .", out: "./dir/b.html\n"},
		{line: "grep nothing f.txt", status: 1},
		{line: "grep -P x f.txt", status: 2, errOut: "-P is not supported; use -E"},
		{line: "ls | grep txt | wc -l", out: "6\n"},
		// wc
		{line: "wc -l f.txt", out: "4 f.txt\n"},
		{line: "wc f.txt", out: "      4       5      30 f.txt\n"},
		{line: "cat f.txt | wc -l", out: "4\n"},
		{line: "wc -c < crlf.txt", out: "8\n"},
		// head, tail
		{line: "head -n 2 f.txt", out: "apple\nBanana\n"},
		{line: "head -1 f.txt", out: "apple\n"},
		{line: "tail -n 1 f.txt", out: "apple pie\n"},
		{line: "tail -n +3 f.txt", out: "cherry\napple pie\n"},
		{line: "seq 1 100000 | head -n 2", out: "1\n2\n"},
		{line: "tail -f f.txt", status: 2, errOut: "-f is not supported"},
		// sort, uniq
		{line: "sort f.txt", out: "Banana\napple\napple pie\ncherry\n"},
		{line: "sort -n nums.txt", out: "9\n9\n10\n100\n"},
		{line: "sort -rn nums.txt", out: "100\n10\n9\n9\n"},
		{line: "sort -nu nums.txt", out: "9\n10\n100\n"},
		{line: "sort -t: -k2 -rn cols.txt", out: "c:3:z\nb:2:y\na:1:x\n"},
		{line: "sort nums.txt | uniq -c", out: "      1 10\n      1 100\n      2 9\n"},
		{line: "sort -n nums.txt | uniq", out: "9\n10\n100\n"},
		// cut, tr
		{line: "cut -d: -f1,3 cols.txt", out: "a:x\nb:y\nc:z\n"},
		{line: "cut -c1-3 f.txt | head -1", out: "app\n"},
		{line: "echo hello | tr a-z A-Z", out: "HELLO\n"},
		{line: "tr -d '\\r' < crlf.txt | od -c", out: "H   E   L   O       x  \\n"},
		{line: "echo aaabbb | tr -s ab", out: "ab\n"},
		// tee
		{line: "echo copy | tee t1.txt t2.txt", out: "copy\n"},
		{line: "cat t2.txt", out: "copy\n"},
		// sed
		{line: "sed 's/apple/pear/' f.txt | head -1", out: "pear\n"},
		{line: "echo aaa | sed 's/a/b/g'", out: "bbb\n"},
		{line: "sed -n '2p' f.txt", out: "Banana\n"},
		{line: "sed '1d;3d' f.txt", out: "Banana\napple pie\n"},
		{line: "sed -n '/apple/p' f.txt", out: "apple\napple pie\n"},
		{line: "echo 'a b' | sed -E 's/(a) (b)/\\2 \\1/'", out: "b a\n"},
		{line: "sed -i 's/one/ONE/' old.txt; head -1 old.txt", out: "ONE\n"},
		// diff
		{line: "sed -i 's/ONE/one/' old.txt; diff old.txt new.txt", status: 1, out: "2c2\n< two\n---\n> 2\n3a4\n> four\n"},
		{line: "diff -u old.txt new.txt", status: 1, out: "-two\n+2\n three\n+four\n"},
		{line: "diff old.txt old.txt"},
		// printf, seq
		{line: "printf '%s=%d\\n' a 1 b 2", out: "a=1\nb=2\n"},
		{line: "printf '%05.1f|%x\\n' 3.14159 255", out: "003.1|ff\n"},
		{line: "printf '%1000000d' 1", status: 1, errOut: "over 1000"},
		{line: "seq 3", out: "1\n2\n3\n"},
		{line: "seq 2 2 6", out: "2\n4\n6\n"},
		{line: "seq -s, 1 3", out: "1,2,3\n"},
		{line: "seq -w 8 10", out: "08\n09\n10\n"},
		// sleep, env, uname, basename, dirname, true, false
		{line: "sleep 0.01"},
		{line: "sleep x", status: 2},
		{line: "env | grep ^USER=", out: "USER=alice\n"},
		{line: "uname", out: "Linux\n"},
		{line: "uname -n", out: "labd\n"},
		{line: "basename /a/b/c.txt .txt", out: "c\n"},
		{line: "dirname /a/b/c.txt", out: "/a/b\n"},
		{line: "true"},
		{line: "false", status: 1},
		// checksums, base64, dumps
		{line: "echo -n abc | md5sum", out: "900150983cd24fb0d6963f7d28e17f72  -\n"},
		{line: "echo -n abc | sha256sum", out: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n"},
		{line: "echo -n hello | base64", out: "aGVsbG8=\n"},
		{line: "echo aGVsbG8= | base64 -d", out: "hello"},
		{line: "xxd crlf.txt", out: "00000000: 4845 4c4f 2078 0d0a                      HELO x..\n"},
		{line: "hexdump -C crlf.txt", out: "00000000  48 45 4c 4f 20 78 0d 0a                           |HELO x..|\n00000008\n"},
		{line: "od -c crlf.txt", out: "0000000   H   E   L   O       x  \\r  \\n\n0000010\n"},
		{line: "od -A x -t x1 crlf.txt", out: "000000 48 45 4c 4f 20 78 0d 0a\n"},
		// pager outside a terminal copies
		{line: "less f.txt | head -1", out: "apple\n"},
		{line: "more f.txt | wc -l", out: "4\n"},
		// find, du, df, stat, file
		{line: "find dir -name '*.txt'", out: "dir/sub/a.txt\n"},
		{line: "find . -type d -name sub", out: "./dir/sub\n"},
		{line: "find dir -maxdepth 1 -type f", out: "dir/b.html\n"},
		{line: "find / -name x", status: 1, errOut: "permission denied"},
		{line: "du -s dir", out: "\tdir\n"},
		{line: "du -sh .", out: "\t.\n"},
		{line: "df -h", out: "labd-home"},
		{line: "stat f.txt", out: "Size: 30"},
		{line: "file crlf.txt dir/b.html dir", out: "crlf.txt: ASCII text, with CRLF line terminators\ndir/b.html: HTML document, ASCII text\ndir: directory\n"},
		// chmod
		{line: "chmod 600 f.txt; stat f.txt | grep Access: | head -1", out: "(0600/-rw-------)"},
		{line: "chmod u+x,g+r f.txt; stat f.txt | grep Uid", out: "(0740/-rwxr-----)"},
		{line: "chmod o+w f.txt", status: 1, errOut: "others cannot be given write permission"},
		{line: "chmod 777 f.txt", status: 1, errOut: "o+w"},
		{line: "chmod 4755 f.txt", status: 1, errOut: "setuid"},
		{line: "chmod u+s f.txt", status: 1, errOut: "setuid"},
		// tar, gzip
		{line: "tar czf d.tgz dir && tar tzf d.tgz | sort", out: "dir/\ndir/b.html\ndir/sub/\ndir/sub/a.txt\n"},
		{line: "mkdir x && tar xzf d.tgz -C x && cat x/dir/sub/a.txt", out: "in a\n"},
		{line: "gzip t1.txt && ls t1.txt*", out: "t1.txt.gz\n"},
		{line: "zcat t1.txt.gz", out: "copy\n"},
		{line: "gunzip t1.txt.gz && cat t1.txt", out: "copy\n"},
		// ps, kill, type
		{line: "ps", out: "PROTO"},
		{line: "kill 999999", status: 1, errOut: "no such session of yours"},
		{line: "type grep cd", out: "grep is /bin/grep (built into labd)\ncd is a shell builtin\n"},
		{line: "which ls", out: "/bin/ls\n"},
		{line: "which nope", status: 1},
		// --help everywhere
		{line: "grep --help", out: "usage: grep"},
		{line: "sort --help", out: "usage: sort"},
	})
}
