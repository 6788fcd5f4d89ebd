// Package faultproxy is a TCP proxy for tests that must break the network
// between a client and a server the way networks break: it black-holes
// traffic (connections stay open, no byte flows, no reset arrives: a
// dropped NAT or conntrack entry, a partition), delays it, or resets every
// connection.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards connections from Addr to a target address.
type Proxy struct {
	// Addr is the loopback address clients dial instead of the target.
	Addr string

	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu        sync.Mutex
	links     map[*link]struct{}
	blackhole bool
	delay     time.Duration
	closed    bool
}

// link is one proxied connection. A dead link forwards nothing, ever
// again, and closes nothing: both ends see a silent, open connection.
type link struct {
	client, server net.Conn
	dead           bool // guarded by Proxy.mu
}

// Start listens on a free loopback port and forwards to target until the
// test ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("faultproxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Blackhole makes every open connection half-open for good (it forwards
// nothing from now on, even after Heal, and is never closed) and does the
// same to every connection accepted until Heal: they are accepted, and
// then nothing flows. Clients must notice by themselves.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = true
	for l := range p.links {
		l.dead = true
	}
}

// Delay holds every chunk of bytes for d before forwarding it (0: none),
// on open connections and new ones.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// SetTarget sends new connections to addr (a failover behind a virtual
// address); open ones stay where they are until Reset.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// Heal ends the black hole and the delay for new connections; connections
// black-holed before stay silent.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.blackhole, p.delay = false, 0
	p.mu.Unlock()
}

// Reset closes every open connection with a TCP reset on both sides.
// New connections are accepted as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.abort()
		delete(p.links, l)
	}
}

// Links returns the number of open connections, black-holed ones included.
func (p *Proxy) Links() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for l := range p.links {
		l.abort()
		delete(p.links, l)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	l := &link{client: client}
	p.mu.Lock()
	dead, closed, target := p.blackhole, p.closed, p.target
	l.dead = dead
	if !closed {
		p.links[l] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		client.Close()
		return
	}
	if !dead {
		server, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			p.drop(l)
			return
		}
		p.mu.Lock()
		l.server = server
		if _, open := p.links[l]; !open { // reset or closed meanwhile
			server.Close()
		}
		p.mu.Unlock()
	}
	done := make(chan struct{}, 2)
	go func() { p.pump(l, l.client, func() net.Conn { return l.server }); done <- struct{}{} }()
	pumps := 1
	if l.server != nil {
		pumps++
		go func() { p.pump(l, l.server, func() net.Conn { return l.client }); done <- struct{}{} }()
	}
	<-done
	p.drop(l) // ends the other pump, unless the link is dead: then Reset or Close does
	if pumps == 2 {
		<-done
	}
}

// pump copies from src to the other end until src fails, dropping what
// it reads while the link is dead.
func (p *Proxy) pump(l *link, src net.Conn, dst func() net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			delay := p.delay
			p.mu.Unlock()
			if delay > 0 {
				time.Sleep(delay)
			}
			p.mu.Lock()
			dead, out := l.dead, dst()
			p.mu.Unlock()
			if !dead && out != nil {
				if _, werr := out.Write(buf[:n]); werr != nil {
					p.drop(l)
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.drop(l)
				return
			}
			p.mu.Lock()
			dead := l.dead
			p.mu.Unlock()
			if dead { // a half-open link passes on no close either
				return
			}
			p.drop(l)
			return
		}
	}
}

// drop closes a link's ends (unless it is dead: a dead link stays open
// until Reset or Close) and forgets it.
func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.dead && !p.closed {
		if _, open := p.links[l]; open {
			return
		}
	}
	delete(p.links, l)
	l.client.Close()
	if l.server != nil {
		l.server.Close()
	}
}

// abort closes both ends with a reset (SO_LINGER 0). Called with p.mu.
func (l *link) abort() {
	for _, c := range []net.Conn{l.client, l.server} {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		if c != nil {
			c.Close()
		}
	}
}
