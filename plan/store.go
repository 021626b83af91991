package plan

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The store keeps devices compact, so that a million rows fit well under 256 MiB: the
// strings of all devices live in one arena of fixed blocks (no copy when it grows),
// codes are packed as integers, account ids and partitions are interned, and a
// virtual device's ARN is kept as its name after "mfa/".

const (
	blockBits = 20
	blockSize = 1 << blockBits
	chunkBits = 16
	chunkSize = 1 << chunkBits
)

// ErrTooLarge is returned when a manifest does not fit the plan's 4 GiB string arena.
var ErrTooLarge = errors.New("manifest too large")

const (
	flagCollected = 1 << iota // collected is set
	flagInvalid               // the row has an error
	flagCodes                 // code1 and code2 are set
	flagARN                   // the serial is arn:PARTITION:iam::ACCOUNT:mfa/ + the stored text
)

type entry struct {
	collected int64 // unix nanoseconds
	off       uint32
	line      uint32
	code1     uint32
	code2     uint32
	userLen   uint16
	serialLen uint16
	ticketLen uint16
	account   uint16 // index+1 into store.accounts; 0 for none
	partition uint8  // index into store.partitions, for ARN serials
	flags     uint8
}

type store struct {
	blocks     [][]byte
	chunks     [][]entry
	n          int
	accounts   []string
	accountIdx map[string]uint16
	partitions []string
	tokens     map[int]*Token // devices found on tokens, by entry index
	serialKeys []uint64       // per device with a serial: hash<<32 | index
}

func (s *store) at(i int) *entry { return &s.chunks[i>>chunkBits][i&(chunkSize-1)] }

// internAccount returns the account's index+1, or 0 for "".
func (s *store) internAccount(a string) (uint16, error) {
	if a == "" {
		return 0, nil
	}
	if i, ok := s.accountIdx[a]; ok {
		return i, nil
	}
	if len(s.accounts) >= 1<<16-1 {
		return 0, ErrTooLarge
	}
	if s.accountIdx == nil {
		s.accountIdx = map[string]uint16{}
	}
	s.accounts = append(s.accounts, a)
	s.accountIdx[a] = uint16(len(s.accounts))
	return uint16(len(s.accounts)), nil
}

func (s *store) internPartition(p string) (uint8, bool) {
	for i, q := range s.partitions {
		if q == p {
			return uint8(i), true
		}
	}
	if len(s.partitions) >= 255 {
		return 0, false
	}
	s.partitions = append(s.partitions, p)
	return uint8(len(s.partitions) - 1), true
}

// add stores a device and returns its index. serial is what to store: the whole serial,
// or the name after "mfa/" when e.flags has flagARN.
func (s *store) add(e entry, user, serial, ticket string) (int, error) {
	size := len(user) + len(serial) + len(ticket)
	if size > blockSize || len(user) > 1<<16-1 || len(serial) > 1<<16-1 || len(ticket) > 1<<16-1 {
		return 0, ErrTooLarge
	}
	if len(s.blocks) == 0 || len(s.blocks[len(s.blocks)-1])+size > blockSize {
		if len(s.blocks) >= 1<<(32-blockBits) {
			return 0, ErrTooLarge
		}
		s.blocks = append(s.blocks, make([]byte, 0, blockSize))
	}
	bi := len(s.blocks) - 1
	b := s.blocks[bi]
	e.off = uint32(bi)<<blockBits | uint32(len(b))
	b = append(b, user...)
	b = append(b, serial...)
	b = append(b, ticket...)
	s.blocks[bi] = b
	e.userLen, e.serialLen, e.ticketLen = uint16(len(user)), uint16(len(serial)), uint16(len(ticket))
	if s.n>>chunkBits >= len(s.chunks) {
		s.chunks = append(s.chunks, make([]entry, chunkSize))
	}
	i := s.n
	*s.at(i) = e
	s.n++
	return i, nil
}

func (s *store) bytes(e *entry) []byte {
	b := s.blocks[e.off>>blockBits]
	o := int(e.off & (blockSize - 1))
	return b[o : o+int(e.userLen)+int(e.serialLen)+int(e.ticketLen)]
}

func (s *store) user(e *entry) string { return string(s.bytes(e)[:e.userLen]) }

func (s *store) storedSerial(e *entry) []byte {
	return s.bytes(e)[e.userLen : int(e.userLen)+int(e.serialLen)]
}

func (s *store) account(e *entry) string {
	if e.account == 0 {
		return ""
	}
	return s.accounts[e.account-1]
}

// arnPrefix is the part of a virtual device's ARN before its name.
func (s *store) arnPrefix(e *entry) string {
	return "arn:" + s.partitions[e.partition] + ":iam::" + s.account(e) + ":mfa/"
}

func (s *store) serial(e *entry) string {
	if e.flags&flagARN != 0 {
		return s.arnPrefix(e) + string(s.storedSerial(e))
	}
	return string(s.storedSerial(e))
}

func (s *store) device(i int) Device {
	e := s.at(i)
	b := s.bytes(e)
	d := Device{
		UserName:     string(b[:e.userLen]),
		SerialNumber: s.serial(e),
		AccountID:    s.account(e),
		Line:         int(e.line),
		Ticket:       string(b[int(e.userLen)+int(e.serialLen):]),
		Token:        s.tokens[i],
	}
	if e.flags&flagCodes != 0 {
		d.Code1, d.Code2 = formatCode(e.code1), formatCode(e.code2)
	}
	if e.flags&flagCollected != 0 {
		d.CollectedAt = time.Unix(0, e.collected).UTC()
	}
	return d
}

func formatCode(c uint32) string {
	s := strconv.FormatUint(uint64(c), 10)
	if len(s) < 6 {
		s = strings.Repeat("0", 6-len(s)) + s // the code had six digits; only storage dropped the zeros
	}
	return s
}

// parseCode packs a code already checked to be six ASCII digits.
func parseCode(c string) uint32 {
	var v uint32
	for i := 0; i < len(c); i++ {
		v = v*10 + uint32(c[i]-'0')
	}
	return v
}

// Duplicate serials are found after reading, by sorting: each device contributes its
// serial's hash and index packed in one uint64 (8 bytes a device, read in order),
// which costs far less than probing a hash table a million times at random.

func serialHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	// finalise so that the low bits used for the slot depend on every byte
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// serialEqual compares entry e's serial with serial, ignoring ASCII case.
func (s *store) serialEqual(e *entry, serial string) bool {
	if e.flags&flagARN != 0 {
		return strings.EqualFold(s.serial(e), serial)
	}
	return strings.EqualFold(string(s.storedSerial(e)), serial)
}

// duplicates calls fn(first, other) for each entry whose serial equals an earlier
// entry's (ignoring ASCII case), first being the earliest such entry.
func (s *store) duplicates(keys []uint64, fn func(first, other int)) {
	slices.Sort(keys)
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j]>>32 == keys[i]>>32 {
			j++
		}
		if j-i > 1 { // same hash: compare the serials, pairwise within the group
			group := keys[i:j]
			matched := make([]bool, len(group))
			for a := range group {
				if matched[a] {
					continue
				}
				ea := int(uint32(group[a]))
				serial := s.serial(s.at(ea))
				for b := a + 1; b < len(group); b++ {
					if eb := int(uint32(group[b])); !matched[b] && s.serialEqual(s.at(eb), serial) {
						matched[b] = true
						fn(ea, eb)
					}
				}
			}
		}
		i = j
	}
}
