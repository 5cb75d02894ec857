package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bounds of a [Members] frame: at most MaxMembers members, each an edge id
// of at most MaxEdgeIDLen bytes and a host:port address. MaxMembers ×
// (MaxEdgeIDLen + an address) stays under MaxFrameSize.
const (
	MaxMembers   = 32
	MaxEdgeIDLen = 128
	maxAddrLen   = MaxHostnameLen + 6
)

// Member is one edge of a fleet: its id (Welcome.EdgeID of its
// connections) and the address connectors dial to reach it.
type Member struct {
	ID   string
	Addr string
}

// Members tells a connector the edges of the fleet the sender belongs to,
// the sender included: the whole list, which replaces any list of the same
// fleet with a lower generation. The edge sends it on the control stream
// right after its Welcome and again whenever the list changes, to
// connectors whose Hello says they follow members ([Hello].Members).
type Members struct {
	// Fleet names the shared store the list comes from; two edges with
	// the same Fleet are of one fleet. Empty: an edge on its own.
	Fleet string
	// Generation grows with every change of the list in the store.
	Generation uint64
	Members    []Member
}

// FrameType implements Frame.
func (*Members) FrameType() FrameType { return FrameMembers }

func (m *Members) appendFields(b []byte) []byte {
	b = appendString(b, 1, m.Fleet)
	b = appendUint(b, 2, m.Generation)
	for _, e := range m.Members {
		v := binary.AppendUvarint(make([]byte, 0, 2+len(e.ID)+len(e.Addr)), uint64(len(e.ID)))
		v = append(append(v, e.ID...), e.Addr...)
		b = appendBytes(b, 3, v)
	}
	return b
}

func (m *Members) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		m.Fleet, err = decodeString(v, "fleet", MaxEdgeIDLen)
	case 2:
		m.Generation, err = decodeUint(v, "generation", 1<<62)
	case 3:
		if len(m.Members) == MaxMembers {
			return fmt.Errorf("more than %d members", MaxMembers)
		}
		var e Member
		if e, err = decodeMember(v); err == nil {
			m.Members = append(m.Members, e)
		}
	}
	return err
}

func decodeMember(v []byte) (Member, error) {
	l, n := binary.Uvarint(v)
	if n <= 0 || l > uint64(len(v)-n) {
		return Member{}, errors.New("member: bad id length")
	}
	id, err := decodeString(v[n:n+int(l)], "member id", MaxEdgeIDLen)
	if err != nil {
		return Member{}, err
	}
	addr, err := decodeString(v[n+int(l):], "member address", maxAddrLen)
	if err != nil {
		return Member{}, err
	}
	if id == "" {
		return Member{}, errors.New("member id is empty")
	}
	if err := CheckTarget(addr); err != nil {
		return Member{}, fmt.Errorf("member %s: address: %w", id, err)
	}
	return Member{ID: id, Addr: addr}, nil
}

func (m *Members) validate() error {
	seen := make(map[string]bool, len(m.Members))
	for _, e := range m.Members {
		if seen[e.ID] {
			return fmt.Errorf("member %s is listed twice", e.ID)
		}
		seen[e.ID] = true
	}
	return nil
}
