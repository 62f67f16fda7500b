package tds

import "encoding/binary"

// decodeDataClassification measures a DATACLASSIFICATION body ([MS-TDS]
// §2.2.7.5) for the negotiated data classification version (the first
// byte of the server's DATACLASSIFICATION FEATUREEXTACK data; 0: not
// negotiated). Version 2 adds sensitivity ranks. The body is kept opaque.
func decodeDataClassification(b []byte, version uint8) (int, error) {
	const msg = "DATACLASSIFICATION"
	if version == 0 {
		return 0, formatErr(msg, "", "token without a DATACLASSIFICATION feature acknowledgement; do not negotiate the feature or tell the Walker its version")
	}
	off := 0
	u16 := func() (int, bool) {
		if len(b)-off < 2 {
			return 0, false
		}
		v := int(binary.LittleEndian.Uint16(b[off:]))
		off += 2
		return v, true
	}
	skip := func(n int) bool {
		if len(b)-off < n {
			return false
		}
		off += n
		return true
	}
	bVarchar := func() bool {
		if len(b)-off < 1 {
			return false
		}
		n := int(b[off])
		off++
		return skip(2 * n)
	}
	// Sensitivity labels, then information types: Name and Id each.
	for range 2 {
		n, ok := u16()
		if !ok {
			return 0, errShort
		}
		for range n {
			if !bVarchar() || !bVarchar() {
				return 0, errShort
			}
		}
	}
	rank := 0
	if version >= 2 {
		rank = 4
		if !skip(rank) {
			return 0, errShort
		}
	}
	cols, ok := u16()
	if !ok {
		return 0, errShort
	}
	for range cols {
		props, ok := u16()
		if !ok || !skip(props*(4+rank)) {
			return 0, errShort
		}
	}
	return off, nil
}

// dataClassificationVersion returns the version acknowledged in a
// FEATUREEXTACK, or 0.
func dataClassificationVersion(acks []FeatureExt) uint8 {
	for _, a := range acks {
		if a.ID == FeatureDataClassification && len(a.Data) > 0 {
			return a.Data[0]
		}
	}
	return 0
}
