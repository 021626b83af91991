package ykoath

import "errors"

type tlvEntry struct {
	tag   byte
	value []byte
}

// tlv encodes one tag-length-value with a BER length (1 or 3 bytes).
func tlv(tag byte, value []byte) []byte {
	out := []byte{tag}
	switch n := len(value); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, value...)
}

var errMalformed = errors.New("malformed reply from the key")

// parseTLVs splits a reply into its TLVs. The touch property (tag 78 in PUT) has no
// length byte, but it never appears in replies.
func parseTLVs(b []byte) ([]tlvEntry, error) {
	var out []tlvEntry
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errMalformed
		}
		tag := b[0]
		n := int(b[1])
		b = b[2:]
		switch n {
		case 0x81:
			if len(b) < 1 {
				return nil, errMalformed
			}
			n, b = int(b[0]), b[1:]
		case 0x82:
			if len(b) < 2 {
				return nil, errMalformed
			}
			n, b = int(b[0])<<8|int(b[1]), b[2:]
		}
		if n > len(b) {
			return nil, errMalformed
		}
		out = append(out, tlvEntry{tag, b[:n]})
		b = b[n:]
	}
	return out, nil
}

// ParseTLVs is parseTLVs for the virtual key, which shares the encoding.
func ParseTLVs(b []byte) (tags []byte, values [][]byte, err error) {
	es, err := parseTLVs(b)
	for _, e := range es {
		tags = append(tags, e.tag)
		values = append(values, e.value)
	}
	return tags, values, err
}

// TLV encodes one tag-length-value, for the virtual key.
func TLV(tag byte, value []byte) []byte { return tlv(tag, value) }
