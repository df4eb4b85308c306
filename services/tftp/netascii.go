package tftp

import (
	"bufio"
	"io"
)

// Netascii (RFC 764, RFC 1350): on the wire every line ends with CR LF and
// a lone CR is sent as CR NUL. On disk labd keeps Unix text: LF ends a line.

// netasciiSize returns how many bytes r takes once encoded.
func netasciiSize(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		n++
		if b == '\n' || b == '\r' {
			n++
		}
	}
}

// netasciiEncoder turns disk text into netascii: LF → CR LF, CR → CR NUL.
type netasciiEncoder struct {
	r       *bufio.Reader
	pending byte // second byte of a pair not yet returned, or 0 with has=false
	has     bool
}

func newNetasciiEncoder(r io.Reader) *netasciiEncoder {
	return &netasciiEncoder{r: bufio.NewReaderSize(r, 64<<10)}
}

func (e *netasciiEncoder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.has {
			p[n] = e.pending
			n++
			e.has = false
			continue
		}
		b, err := e.r.ReadByte()
		if err != nil {
			if n > 0 && err == io.EOF {
				return n, nil
			}
			return n, err
		}
		switch b {
		case '\n':
			p[n] = '\r'
			e.pending, e.has = '\n', true
		case '\r':
			p[n] = '\r'
			e.pending, e.has = 0, true
		default:
			p[n] = b
		}
		n++
	}
	return n, nil
}

// netasciiDecoder turns netascii into disk text: CR LF → LF, CR NUL → CR.
// A CR followed by anything else (not valid netascii) is kept as is. Close
// writes a CR left at the very end.
type netasciiDecoder struct {
	w   io.Writer
	cr  bool
	buf []byte
}

func newNetasciiDecoder(w io.Writer) *netasciiDecoder {
	return &netasciiDecoder{w: w, buf: make([]byte, 0, 64<<10)}
}

func (d *netasciiDecoder) Write(p []byte) (int, error) {
	out := d.buf[:0]
	for _, b := range p {
		if d.cr {
			d.cr = false
			switch b {
			case '\n':
				out = append(out, '\n')
				continue
			case 0:
				out = append(out, '\r')
				continue
			default:
				out = append(out, '\r')
			}
		}
		if b == '\r' {
			d.cr = true
			continue
		}
		out = append(out, b)
	}
	d.buf = out[:0]
	if len(out) == 0 {
		return len(p), nil
	}
	if _, err := d.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close flushes a trailing CR.
func (d *netasciiDecoder) Close() error {
	if d.cr {
		d.cr = false
		_, err := d.w.Write([]byte{'\r'})
		return err
	}
	return nil
}
