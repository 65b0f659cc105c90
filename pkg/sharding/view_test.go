package sharding

import "testing"

func TestView_Owns(t *testing.T) {
	members := []string{"r0", "r1"}
	// key0 is assigned to r0 among r0,r1; with r0 alone it is r0's too.
	var key0 string
	for _, k := range keys(100) {
		if Owner(members, k) == "r0" && Owner([]string{"r1", "r2"}, k) == "r1" {
			key0 = k
			break
		}
	}
	if key0 == "" {
		t.Fatal("no key fits")
	}
	both := peerClaim{ids: members, acks: true}
	tests := []struct {
		name     string
		live     bool
		ownClaim []string
		peer     peerClaim
		want     bool
	}{
		{name: "released by the peer", live: true, ownClaim: members, peer: both, want: true},
		{name: "not live", ownClaim: members, peer: both},
		{name: "own lease does not claim it yet", live: true, ownClaim: []string{"r1"}, peer: both},
		{name: "peer runs nothing yet", live: true, ownClaim: members, peer: peerClaim{none: true}, want: true},
		{
			// The peer's claim predates this incarnation: it may since have
			// taken the key in a view without it.
			name: "peer's claim does not name this incarnation", live: true, ownClaim: members,
			peer: peerClaim{ids: members, acks: false},
		},
		{
			name: "peer still claims it", live: true, ownClaim: members,
			peer: peerClaim{ids: []string{"r1", "r2"}, acks: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &View{
				self: "r0", holder: "r0_a", live: tt.live, members: members, holders: []string{"r0_a", "r1_b"},
				claims: map[string]peerClaim{"r1": tt.peer}, ownClaim: tt.ownClaim,
			}
			if got := v.Owns(key0); got != tt.want {
				t.Errorf("Owns(%q) = %v, want %v", key0, got, tt.want)
			}
			if got := v.Owner(key0); got != "r0" {
				t.Errorf("Owner(%q) = %q, want r0", key0, got)
			}
		})
	}
}
