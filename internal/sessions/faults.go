package sessions

import (
	"net"
	"sync"
	"time"

	"labd/internal/faults"
)

// SetFaults gives the registry the teacher's faults: the TCP kinds
// (bandwidth, writedelay, reset) act in every recorded connection.
func (r *Registry) SetFaults(f *faults.Set) { r.faults = f }

type faultState struct {
	mu    sync.Mutex
	sent  int64
	noted map[int]bool
}

// faultWrite is Write while a fault is active somewhere: it looks up the
// TCP faults for this connection's protocol, user and address.
func (c *Conn) faultWrite(b []byte) (int, error) {
	set := c.sess.reg.faults
	proto := c.sess.info.Proto
	user := c.sess.Info().User
	remote := c.RemoteAddr().String()
	if f, ok := set.Match(proto, "reset", user, remote); ok {
		limit := int64(f.Int("bytes"))
		c.fault.mu.Lock()
		room := limit - c.fault.sent
		c.fault.mu.Unlock()
		if int64(len(b)) >= room {
			n := 0
			if room > 0 {
				n, _ = c.write(b[:room])
			}
			c.sess.Notef("fault %d (%s): connection reset after %d bytes sent", f.ID, f, limit)
			if tc, ok := c.Conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // close with RST
			}
			c.Close()
			return n, net.ErrClosed
		}
		defer func() {
			c.fault.mu.Lock()
			c.fault.sent += int64(len(b))
			c.fault.mu.Unlock()
		}()
	}
	if f, ok := set.Match(proto, "writedelay", user, remote); ok {
		d := time.Duration(f.Int("ms")) * time.Millisecond
		c.noteOnce(f, "every write delayed %s", d)
		time.Sleep(d)
	}
	f, ok := set.Match(proto, "bandwidth", user, remote)
	if !ok && proto == "ftp-data" {
		f, ok = set.Match("ftp", "ratelimit", user, remote)
	}
	if ok {
		c.noteOnce(f, "bandwidth capped at %d kbit/s", f.Int("kbps"))
		return faults.WritePaced(c.write, b, f.Int("kbps"))
	}
	return c.write(b)
}

// faultRead slows uploads on FTP data connections under the ftp ratelimit
// fault: after each read, it waits as long as the bytes would take at the
// rate.
func (c *Conn) faultRead(n int) {
	if n <= 0 || c.sess.info.Proto != "ftp-data" {
		return
	}
	f, ok := c.sess.reg.faults.Match("ftp", "ratelimit", c.sess.Info().User, c.RemoteAddr().String())
	if !ok {
		return
	}
	c.noteOnce(f, "transfer rate limited to %d kbit/s", f.Int("kbps"))
	bytesPerSec := max(1, f.Int("kbps")*1000/8)
	time.Sleep(time.Duration(n) * time.Second / time.Duration(bytesPerSec))
}

// noteOnce notes a fault in the transcript the first time it acts on this
// connection, not at every write.
func (c *Conn) noteOnce(f faults.Fault, format string, args ...any) {
	c.fault.mu.Lock()
	if c.fault.noted == nil {
		c.fault.noted = map[int]bool{}
	}
	first := !c.fault.noted[f.ID]
	c.fault.noted[f.ID] = true
	c.fault.mu.Unlock()
	if first {
		c.sess.Notef("fault %d (%s): "+format, append([]any{f.ID, f.String()}, args...)...)
	}
}
