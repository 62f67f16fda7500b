package tds

import (
	"encoding/binary"
	"fmt"
)

// RETURNVALUE status values ([MS-TDS] §2.2.7.19).
const (
	ReturnValueOutput uint8 = 0x01 // output parameter of an RPC
	ReturnValueUDF    uint8 = 0x02 // return value of a user-defined function
)

// ReturnValue is a RETURNVALUE token ([MS-TDS] §2.2.7.19): an output
// parameter or a UDF's return value.
type ReturnValue struct {
	Ordinal  uint16
	Name     string
	Status   uint8
	UserType uint32 // 2 bytes before TDS 7.2
	Flags    uint16
	Type     TypeInfo
	Value    any
	// ValueSkipped is set by the Walker when the value was larger than it
	// decodes (MaxReturnValueSize) or could not be converted; Value is nil then.
	ValueSkipped bool
}

// AppendReturnValue appends a RETURNVALUE token (TDS 7.2+ layout).
func AppendReturnValue(dst []byte, rv ReturnValue) ([]byte, error) {
	return appendReturnValue(dst, rv, VerTDS74)
}

func appendReturnValue(dst []byte, rv ReturnValue, ver uint32) ([]byte, error) {
	start := len(dst)
	dst = appendReturnValueHeader(dst, rv, ver)
	dst, err := appendValue(dst, rv.Type, rv.Value, ctxRow)
	if err != nil {
		return dst[:start], fmt.Errorf("tds: RETURNVALUE %q: %w", rv.Name, err)
	}
	return dst, nil
}

func appendReturnValueHeader(dst []byte, rv ReturnValue, ver uint32) []byte {
	dst = append(dst, byte(TokenReturnValue))
	dst = binary.LittleEndian.AppendUint16(dst, rv.Ordinal)
	dst = appendBVarchar(dst, rv.Name)
	dst = append(dst, rv.Status)
	if is72(ver) {
		dst = binary.LittleEndian.AppendUint32(dst, rv.UserType)
	} else {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(rv.UserType))
	}
	dst = binary.LittleEndian.AppendUint16(dst, rv.Flags)
	return rv.Type.appendCtx(dst, tiReturn)
}

// decodeReturnValueHeader decodes a RETURNVALUE body up to its value.
func decodeReturnValueHeader(b []byte, ver uint32) (ReturnValue, int, error) {
	r := newReader(b)
	var rv ReturnValue
	rv.Ordinal = r.u16()
	rv.Name = r.bVarchar()
	rv.Status = r.u8()
	if is72(ver) {
		rv.UserType = r.u32()
	} else {
		rv.UserType = uint32(r.u16())
	}
	rv.Flags = r.u16()
	if !r.ok {
		return ReturnValue{}, 0, errShort
	}
	if rv.Flags&ColEncrypted != 0 {
		return ReturnValue{}, 0, formatErr("RETURNVALUE", "Flags", "encrypted value (Always Encrypted) not supported")
	}
	t, n, err := decodeTypeInfo(b[r.off:], tiReturn)
	if err != nil {
		return ReturnValue{}, 0, err
	}
	rv.Type = t
	return rv, r.off + n, nil
}
