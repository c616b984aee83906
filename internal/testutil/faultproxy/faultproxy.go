// Package faultproxy is a TCP proxy on loopback that the fault tests put
// between the collector and ClickHouse, to make the link slow, cut it at a
// chosen moment, or make the server look down.
package faultproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the proxy treats connections.
type Mode int32

const (
	// Pass forwards everything.
	Pass Mode = iota
	// Refuse closes every new connection at once, like a stopped server,
	// and cuts the open ones.
	Refuse
	// Blackhole accepts connections and reads them, but forwards nothing
	// and never answers, like a server behind a dead link.
	Blackhole
	// ResetAfterSend forwards a client's request to the server, waits until
	// the server begins to answer, then cuts the connection before the
	// answer reaches the client: the server did the work, the client does
	// not know. It applies once, to the next request of at least MinBytes.
	ResetAfterSend
)

// Proxy forwards connections from its listener to Target.
type Proxy struct {
	Target string
	// Latency is added before each chunk forwarded in either direction.
	Latency  atomic.Int64 // nanoseconds
	MinBytes atomic.Int64 // see ResetAfterSend

	ln     net.Listener
	mode   atomic.Int32
	resets atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode switches how connections are treated; Refuse also cuts the open
// ones.
func (p *Proxy) SetMode(m Mode) {
	p.mode.Store(int32(m))
	if m == Refuse {
		p.closeConns()
	}
}

// Mode is the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// Resets counts the connections cut by ResetAfterSend.
func (p *Proxy) Resets() int64 { return p.resets.Load() }

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.closeConns()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *Proxy) serve(client net.Conn) {
	p.track(client, true)
	defer p.track(client, false)
	defer client.Close()
	switch Mode(p.mode.Load()) {
	case Refuse:
		return
	case Blackhole:
		io.Copy(io.Discard, client)
		return
	}
	server, err := net.DialTimeout("tcp", p.Target, 5*time.Second)
	if err != nil {
		return
	}
	p.track(server, true)
	defer p.track(server, false)
	defer server.Close()
	// sent counts what the client sent since the server last answered, so
	// a reset can wait for a large request (an INSERT) to be delivered.
	var sent atomic.Int64
	done := make(chan struct{}, 2)
	go func() {
		p.pipe(server, client, func(n int) bool { sent.Add(int64(n)); return true })
		server.Close()
		done <- struct{}{}
	}()
	go func() {
		p.pipe(client, server, func(int) bool {
			if Mode(p.mode.Load()) == ResetAfterSend && sent.Load() >= p.MinBytes.Load() &&
				p.mode.CompareAndSwap(int32(ResetAfterSend), int32(Pass)) {
				p.resets.Add(1)
				return false
			}
			sent.Store(0)
			return true
		})
		client.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// pipe copies src to dst; before each chunk is forwarded, ok may stop it.
func (p *Proxy) pipe(dst, src net.Conn, ok func(n int) bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.Latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if Mode(p.mode.Load()) == Refuse || !ok(n) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
