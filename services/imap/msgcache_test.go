package imap

import (
	"bytes"
	"testing"
)

func TestBodyCache(t *testing.T) {
	small := bytes.Repeat([]byte("a"), 100)[:100:100] // costs 164 with the overhead
	type op struct {
		do   string // put, drop, dropBox
		key  msgKey
		body []byte
	}
	tests := []struct {
		name    string
		max     int
		ops     []op
		want    map[msgKey][]byte // present, with these bytes
		missing []msgKey
	}{
		{
			name: "two mailboxes with the same UID",
			max:  1 << 20,
			ops:  []op{{"put", msgKey{1, 7}, []byte("box one")}, {"put", msgKey{2, 7}, []byte("box two")}},
			want: map[msgKey][]byte{{1, 7}: []byte("box one"), {2, 7}: []byte("box two")},
		},
		{
			name:    "expunged while cached",
			max:     1 << 20,
			ops:     []op{{"put", msgKey{1, 1}, small}, {"put", msgKey{1, 2}, small}, {do: "drop", key: msgKey{1, 1}}},
			want:    map[msgKey][]byte{{1, 2}: small},
			missing: []msgKey{{1, 1}},
		},
		{
			name:    "mailbox deleted",
			max:     1 << 20,
			ops:     []op{{"put", msgKey{1, 1}, small}, {"put", msgKey{2, 1}, small}, {do: "dropBox", key: msgKey{box: 1}}},
			want:    map[msgKey][]byte{{2, 1}: small},
			missing: []msgKey{{1, 1}},
		},
		{
			name:    "a message over an eighth of the budget is not kept",
			max:     8 * 1024,
			ops:     []op{{"put", msgKey{1, 1}, small}, {"put", msgKey{1, 2}, bytes.Repeat([]byte("b"), 1024)}},
			want:    map[msgKey][]byte{{1, 1}: small},
			missing: []msgKey{{1, 2}},
		},
		{
			name:    "a message over the whole budget is not kept",
			max:     100,
			ops:     []op{{"put", msgKey{1, 1}, small}},
			missing: []msgKey{{1, 1}},
		},
		{
			name:    "off",
			max:     0,
			ops:     []op{{"put", msgKey{1, 1}, []byte("x")}},
			missing: []msgKey{{1, 1}},
		},
		{
			name: "oldest out first",
			max:  3 * 164 * 8, // entries up to 3*164 bytes
			ops: []op{
				{"put", msgKey{1, 1}, bytes.Repeat([]byte("1"), 3*164-64)},
				{"put", msgKey{1, 2}, bytes.Repeat([]byte("2"), 3*164-64)},
				{"put", msgKey{1, 3}, bytes.Repeat([]byte("3"), 3*164-64)},
				{"put", msgKey{1, 4}, bytes.Repeat([]byte("4"), 3*164-64)},
				{"put", msgKey{1, 5}, bytes.Repeat([]byte("5"), 3*164-64)},
				{"put", msgKey{1, 6}, bytes.Repeat([]byte("6"), 3*164-64)},
				{"put", msgKey{1, 7}, bytes.Repeat([]byte("7"), 3*164-64)},
				{"put", msgKey{1, 8}, bytes.Repeat([]byte("8"), 3*164-64)},
				{"put", msgKey{1, 9}, bytes.Repeat([]byte("9"), 3*164-64)},
			},
			// (bytes.Repeat allocates exactly: capacity = length.)
			want:    map[msgKey][]byte{{1, 9}: bytes.Repeat([]byte("9"), 3*164-64), {1, 2}: bytes.Repeat([]byte("2"), 3*164-64)},
			missing: []msgKey{{1, 1}},
		},
		{
			name:    "charged by capacity: a slice of a big array holds it",
			max:     8 * 1024,
			ops:     []op{{"put", msgKey{1, 1}, make([]byte, 10, 2048)}},
			missing: []msgKey{{1, 1}},
		},
		{
			name: "a second put keeps the first bytes",
			max:  1 << 20,
			ops:  []op{{"put", msgKey{1, 1}, []byte("first")}, {"put", msgKey{1, 1}, []byte("second")}},
			want: map[msgKey][]byte{{1, 1}: []byte("first")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newBodyCache(tt.max)
			for _, o := range tt.ops {
				switch o.do {
				case "put":
					c.put(o.key, o.body)
				case "drop":
					c.drop(o.key)
				case "dropBox":
					c.dropBox(o.key.box)
				}
				if c.used > c.max {
					t.Fatalf("after %s %v: %d bytes used, budget %d", o.do, o.key, c.used, c.max)
				}
			}
			for k, want := range tt.want {
				if got, ok := c.get(k); !ok || !bytes.Equal(got, want) {
					t.Errorf("%v: got %q (cached %v), want %q", k, got, ok, want)
				}
			}
			for _, k := range tt.missing {
				if c.has(k) {
					t.Errorf("%v: still cached", k)
				}
			}
			sum := 0
			for _, b := range c.m {
				sum += cap(b) + bodyEntryOverhead
			}
			if sum != c.used {
				t.Errorf("accounted %d bytes, entries hold %d", c.used, sum)
			}
		})
	}
}
