package tds

import "encoding/binary"

// Stepping through one row value that may straddle the chunks fed to a
// Walker: the value's kind, its progress, and the fast path for values
// that are whole in the current chunk.

// valKind is how to find the end of a value of a column's type.
type valKind struct {
	kind uint8
	size int // kFixed: value size
}

const (
	kFixed uint8 = iota
	kLen1        // 1-byte length prefix
	kLen2        // 2-byte length prefix, 0xFFFF NULL
	kLen4        // 4-byte length prefix (SSVARIANT)
	kText        // TEXTPTR, TIMESTAMP, 4-byte length
	kPLP         // PLP chunks
)

func kindOf(t TypeInfo) valKind {
	switch t.Type.lenKind() {
	case lenFixed:
		return valKind{kind: kFixed, size: t.Size}
	case lenByte, lenScale, lenDate:
		return valKind{kind: kLen1}
	case lenUShort:
		if t.Size == PLPSize {
			return valKind{kind: kPLP}
		}
		return valKind{kind: kLen2}
	case lenLong:
		if t.Type == TypeVariant {
			return valKind{kind: kLen4}
		}
		return valKind{kind: kText}
	}
	return valKind{kind: kPLP}
}

// valState is the progress through one value that straddles chunks.
type valState struct {
	phase   uint8 // vStart, vPrefix, vSkip
	stage   uint8 // kText: 0 pointer length, 1 data length; kPLP: 0 total, 1 chunk length
	pre     [8]byte
	preHave int
	preNeed int
	skip    uint64
	last    bool // the value ends when skip reaches 0
}

const (
	vStart uint8 = iota
	vPrefix
	vSkip
)

// fastLen returns the length of a value of kind k if all of it is in p.
func fastLen(k valKind, p []byte) (int, bool) {
	switch k.kind {
	case kFixed:
		return k.size, len(p) >= k.size
	case kLen1:
		if len(p) < 1 {
			return 0, false
		}
		n := 1 + int(p[0])
		return n, len(p) >= n
	case kLen2:
		if len(p) < 2 {
			return 0, false
		}
		l := int(binary.LittleEndian.Uint16(p))
		if l == 0xFFFF {
			return 2, true
		}
		return 2 + l, len(p) >= 2+l
	case kLen4:
		if len(p) < 4 {
			return 0, false
		}
		l := uint64(binary.LittleEndian.Uint32(p))
		return 4 + int(l), uint64(len(p)-4) >= l
	}
	n, err := longOrPLPLen(k, p)
	return n, err == nil
}

func longOrPLPLen(k valKind, p []byte) (int, error) {
	if k.kind == kText {
		return longLen(TypeInfo{Type: TypeText}, p, ctxRow)
	}
	return plpLen(p)
}

// stepValue advances through one value that may straddle chunks. It
// returns the bytes consumed and whether the value is complete.
func (w *Walker) stepValue(k valKind, p []byte) (int, bool, error) {
	v := &w.v
	used := 0
	for {
		switch v.phase {
		case vStart:
			v.stage = 0
			v.preHave = 0
			switch k.kind {
			case kFixed:
				v.phase, v.skip, v.last = vSkip, uint64(k.size), true
				continue
			case kLen1, kText:
				v.preNeed = 1
			case kLen2:
				v.preNeed = 2
			case kLen4:
				v.preNeed = 4
			case kPLP:
				v.preNeed = 8
			}
			v.phase = vPrefix
		case vPrefix:
			n := min(v.preNeed-v.preHave, len(p)-used)
			copy(v.pre[v.preHave:], p[used:used+n])
			v.preHave += n
			used += n
			if v.preHave < v.preNeed {
				return used, false, nil
			}
			if done := w.prefixDone(k); done {
				v.phase = vStart
				return used, true, nil
			}
		case vSkip:
			n := uint64(len(p) - used)
			if n > v.skip {
				n = v.skip
			}
			v.skip -= n
			used += int(n)
			if v.skip > 0 {
				return used, false, nil
			}
			if v.last {
				v.phase = vStart
				return used, true, nil
			}
			// Next length prefix: TEXT data length or PLP chunk length.
			v.phase, v.preHave, v.preNeed = vPrefix, 0, 4
		}
	}
}

// prefixDone interprets a completed length prefix; it reports whether the
// value is complete.
func (w *Walker) prefixDone(k valKind) bool {
	v := &w.v
	v.phase, v.last = vSkip, true
	switch k.kind {
	case kLen1:
		v.skip = uint64(v.pre[0])
	case kLen2:
		l := binary.LittleEndian.Uint16(v.pre[:])
		if l == 0xFFFF {
			return true
		}
		v.skip = uint64(l)
	case kLen4:
		v.skip = uint64(binary.LittleEndian.Uint32(v.pre[:]))
	case kText:
		if v.stage == 0 {
			if v.pre[0] == 0 {
				return true
			}
			v.stage, v.skip, v.last = 1, uint64(v.pre[0])+8, false
		} else {
			v.skip = uint64(binary.LittleEndian.Uint32(v.pre[:]))
		}
	case kPLP:
		if v.stage == 0 {
			if binary.LittleEndian.Uint64(v.pre[:]) == plpNull {
				return true
			}
			v.stage, v.phase, v.preHave, v.preNeed = 1, vPrefix, 0, 4
			return false
		}
		l := binary.LittleEndian.Uint32(v.pre[:])
		if l == 0 {
			return true
		}
		v.skip, v.last = uint64(l), false
	}
	if v.skip == 0 && v.last {
		return true
	}
	return false
}
