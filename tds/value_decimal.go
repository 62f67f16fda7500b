package tds

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// Decimal is a DECIMAL/NUMERIC value ([MS-TDS] §2.2.5.5.1.3): an unscaled
// integer of up to 38 digits, a sign, and the precision and scale it was
// declared with. The value is (-1)^Neg × unscaled × 10^-Scale.
type Decimal struct {
	Neg       bool
	Precision uint8 // total digits, 1..38
	Scale     uint8 // digits after the decimal point, <= Precision
	lo, hi    uint64
}

// maxDecimal is 10^38, one more than the largest unscaled value.
var maxDecimal = new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)

// NewDecimal builds a Decimal from a signed unscaled integer: for example
// NewDecimal(big.NewInt(-12345), 10, 2) is -123.45 as DECIMAL(10,2).
func NewDecimal(unscaled *big.Int, precision, scale uint8) (Decimal, error) {
	if precision < 1 || precision > 38 || scale > precision {
		return Decimal{}, fmt.Errorf("tds: invalid decimal precision %d scale %d", precision, scale)
	}
	m := new(big.Int).Abs(unscaled)
	if m.Cmp(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)) >= 0 {
		return Decimal{}, fmt.Errorf("tds: %s has more than %d digits", unscaled, precision)
	}
	d := Decimal{Neg: unscaled.Sign() < 0, Precision: precision, Scale: scale}
	d.setMag(m)
	return d, nil
}

// ParseDecimal parses a decimal string such as "-123.4500" (optionally with
// a leading '+'), keeping its digits: precision is the number of digits
// (at least 1), scale the digits after the point.
func ParseDecimal(s string) (Decimal, error) {
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if (intPart == "" && frac == "") || (hasPoint && frac == "" && intPart == "") {
		return Decimal{}, fmt.Errorf("tds: invalid decimal %q", orig)
	}
	digits := strings.TrimLeft(intPart, "0") + frac
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return Decimal{}, fmt.Errorf("tds: invalid decimal %q", orig)
		}
	}
	scale := len(frac)
	prec := len(strings.TrimLeft(digits, "0"))
	if prec < scale {
		prec = scale
	}
	if prec == 0 {
		prec = 1
	}
	if prec > 38 {
		return Decimal{}, fmt.Errorf("tds: decimal %q has more than 38 digits", orig)
	}
	m, ok := new(big.Int).SetString("0"+digits, 10)
	if !ok {
		return Decimal{}, fmt.Errorf("tds: invalid decimal %q", orig)
	}
	if neg {
		m.Neg(m)
	}
	return NewDecimal(m, uint8(prec), uint8(scale))
}

func (d *Decimal) setMag(m *big.Int) {
	var buf [16]byte
	m.FillBytes(buf[:])
	d.hi = binary.BigEndian.Uint64(buf[:8])
	d.lo = binary.BigEndian.Uint64(buf[8:])
}

func (d Decimal) mag() *big.Int {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], d.hi)
	binary.BigEndian.PutUint64(buf[8:], d.lo)
	return new(big.Int).SetBytes(buf[:])
}

// Unscaled returns the signed unscaled integer.
func (d Decimal) Unscaled() *big.Int {
	m := d.mag()
	if d.Neg {
		m.Neg(m)
	}
	return m
}

// IsZero reports whether the value is zero.
func (d Decimal) IsZero() bool { return d.lo == 0 && d.hi == 0 }

// String formats the value with exactly Scale digits after the point.
func (d Decimal) String() string {
	digits := d.mag().Text(10)
	if int(d.Scale) >= len(digits) {
		digits = strings.Repeat("0", int(d.Scale)-len(digits)+1) + digits
	}
	var b strings.Builder
	if d.Neg && !d.IsZero() {
		b.WriteByte('-')
	}
	cut := len(digits) - int(d.Scale)
	b.WriteString(digits[:cut])
	if d.Scale > 0 {
		b.WriteByte('.')
		b.WriteString(digits[cut:])
	}
	return b.String()
}

// Rescale returns d with the given scale, rounding half away from zero when
// digits are dropped, and the given precision; it fails if the value does
// not fit.
func (d Decimal) Rescale(precision, scale uint8) (Decimal, error) {
	m := d.mag()
	switch {
	case scale > d.Scale:
		m.Mul(m, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.Scale)), nil))
	case scale < d.Scale:
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale-scale)), nil)
		q, r := new(big.Int).QuoRem(m, div, new(big.Int))
		if r.Lsh(r, 1).Cmp(div) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		m = q
	}
	if d.Neg {
		m.Neg(m)
	}
	return NewDecimal(m, precision, scale)
}

// decimalSize returns the data length of a DECIMAL of the given precision.
func decimalSize(precision uint8) int {
	switch {
	case precision <= 9:
		return 5
	case precision <= 19:
		return 9
	case precision <= 28:
		return 13
	}
	return 17
}

func decodeDecimal(d []byte, precision, scale uint8) (Decimal, error) {
	if len(d) < 2 || len(d) > 17 {
		return Decimal{}, formatErr("value", "DECIMAL", "invalid data length %d", len(d))
	}
	var buf [16]byte
	copy(buf[:], d[1:])
	dec := Decimal{
		Neg:       d[0] == 0,
		Precision: precision,
		Scale:     scale,
		lo:        binary.LittleEndian.Uint64(buf[:8]),
		hi:        binary.LittleEndian.Uint64(buf[8:]),
	}
	if dec.Precision == 0 {
		dec.Precision = 38
	}
	return dec, nil
}

func appendDecimal(dst []byte, t TypeInfo, v any) ([]byte, error) {
	var d Decimal
	switch x := v.(type) {
	case Decimal:
		d = x
	case string:
		p, err := ParseDecimal(x)
		if err != nil {
			return dst, err
		}
		d = p
	case *big.Int:
		p, err := NewDecimal(x, 38, 0)
		if err != nil {
			return dst, err
		}
		d = p
	default:
		i, ok := toInt64(v)
		if !ok {
			return dst, typeErr(t, v)
		}
		p, err := NewDecimal(big.NewInt(i), 38, 0)
		if err != nil {
			return dst, err
		}
		d = p
	}
	prec := t.Precision
	if prec == 0 {
		prec = 38
	}
	if d.Precision != prec || d.Scale != t.Scale {
		r, err := d.Rescale(prec, t.Scale)
		if err != nil {
			return dst, fmt.Errorf("tds: decimal %s does not fit %s: %w", d, t, err)
		}
		d = r
	}
	if d.Neg && !d.IsZero() {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
	}
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], d.lo)
	binary.LittleEndian.PutUint64(buf[8:], d.hi)
	size := decimalSize(prec) - 1
	if t.Size >= 2 && t.Size-1 < size {
		size = t.Size - 1 // a TYPE_INFO narrower than the precision implies (FreeTDS bcp)
	}
	for _, c := range buf[size:] {
		if c != 0 {
			return dst, fmt.Errorf("tds: decimal %s has more digits than precision %d allows", d, prec)
		}
	}
	return append(dst, buf[:size]...), nil
}

// Money is a MONEY/SMALLMONEY value in ten-thousandths of a currency unit
// ([MS-TDS] §2.2.5.5.1.4).
type Money int64

// String formats the value with four decimals, e.g. "-12.3400".
func (m Money) String() string {
	v := int64(m)
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign = "-"
		u = uint64(-v)
	}
	return fmt.Sprintf("%s%d.%04d", sign, u/10000, u%10000)
}

// GUID is a UNIQUEIDENTIFIER value in wire order: the first three groups
// are little-endian ([MS-TDS] §2.2.5.5.1.6).
type GUID [16]byte

// String returns SQL Server's textual form, e.g.
// "6F9619FF-8B86-D011-B42D-00C04FC964FF".
func (g GUID) String() string {
	var b [36]byte
	const hexd = "0123456789ABCDEF"
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	j := 0
	for i, k := range order {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[g[k]>>4], hexd[g[k]&0x0F]
		j += 2
	}
	return string(b[:])
}

// ParseGUID parses the textual form (with or without braces, any case).
func ParseGUID(s string) (GUID, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return GUID{}, fmt.Errorf("tds: invalid GUID %q", s)
	}
	raw, err := hex.DecodeString(t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:])
	if err != nil {
		return GUID{}, fmt.Errorf("tds: invalid GUID %q", s)
	}
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	var g GUID
	for i, k := range order {
		g[k] = raw[i]
	}
	return g, nil
}
