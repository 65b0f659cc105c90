package server

import (
	"net"
	"strconv"
	"testing"

	netutils "k8s.io/utils/net"
)

// TestOptions_Listen: the serving port is held from listen on, so that
// nothing started between it and the server (the embedded etcd) can take
// it; a port meant to be shared is left to the server's own listener.
func TestOptions_Listen(t *testing.T) {
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	o := NewOptions()
	s := o.Recommended.SecureServing
	s.BindAddress, s.BindPort = netutils.ParseIPSloppy("127.0.0.1"), free()
	if err := o.listen(); err != nil {
		t.Fatal(err)
	}
	if s.Listener == nil {
		t.Fatal("no listener")
	}
	defer s.Listener.Close()
	if got := s.Listener.Addr().(*net.TCPAddr).Port; got != s.BindPort {
		t.Errorf("listening on %d, want %d", got, s.BindPort)
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.BindPort)); err == nil {
		l.Close()
		t.Errorf("port %d could be taken after listen", s.BindPort)
	}
	if err := o.listen(); err != nil { // already bound: kept
		t.Errorf("second listen: %v", err)
	}

	shared := NewOptions()
	shared.Recommended.SecureServing.PermitPortSharing = true
	shared.Recommended.SecureServing.BindPort = free()
	if err := shared.listen(); err != nil || shared.Recommended.SecureServing.Listener != nil {
		t.Errorf("shared port: listener %v, err %v; want none", shared.Recommended.SecureServing.Listener, err)
	}
}
