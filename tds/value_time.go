package tds

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Date and time values ([MS-TDS] §2.2.5.5.1.7–§2.2.5.5.1.10).

const (
	secondsPerDay = 86400
	// unix0001 is 0001-01-01T00:00:00Z in Unix seconds.
	unix0001 = -62135596800
	// unix1900 is 1900-01-01T00:00:00Z in Unix seconds.
	unix1900 = -2208988800
)

var pow10 = [10]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// timeLen returns the byte length of a TIME(scale) value.
func timeLen(scale uint8) int {
	switch {
	case scale <= 2:
		return 3
	case scale <= 4:
		return 4
	}
	return 5
}

// dateTimeSize returns the data length of a non-NULL DATEN/TIMEN/DATETIME2N/
// DATETIMEOFFSETN value.
func dateTimeSize(t TypeInfo) int {
	switch t.Type {
	case TypeDateN:
		return 3
	case TypeTimeN:
		return timeLen(t.Scale)
	case TypeDateTime2N:
		return timeLen(t.Scale) + 3
	case TypeDateTimeOffsetN:
		return timeLen(t.Scale) + 5
	}
	return 0
}

func decodeTime(t TypeInfo, d []byte) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, formatErr("value", t.Type.String(), "invalid data length %d", len(d))
	}
	switch t.Type {
	case TypeDateTime, TypeDateTim4, TypeDateTimeN:
		switch len(d) {
		case 8:
			days := int64(int32(binary.LittleEndian.Uint32(d)))
			ticks := int64(binary.LittleEndian.Uint32(d[4:]))
			if ticks >= 300*secondsPerDay {
				return time.Time{}, formatErr("value", "DATETIME", "time ticks %d beyond one day", ticks)
			}
			ns := (ticks*10000000 + 1) / 3 // ticks of 1/300 s, rounded to the nanosecond
			return time.Unix(unix1900+days*secondsPerDay, ns).UTC(), nil
		case 4:
			days := int64(binary.LittleEndian.Uint16(d))
			mins := int64(binary.LittleEndian.Uint16(d[2:]))
			if mins >= 24*60 {
				return time.Time{}, formatErr("value", "DATETIM4", "minutes %d beyond one day", mins)
			}
			return time.Unix(unix1900+days*secondsPerDay+mins*60, 0).UTC(), nil
		}
		return bad()
	}
	if len(d) != dateTimeSize(t) {
		return bad()
	}
	var ns int64
	var days int64
	switch t.Type {
	case TypeDateN:
		days = int64(uint24(d))
	case TypeTimeN:
		ns = timeNanos(d, t.Scale)
	case TypeDateTime2N, TypeDateTimeOffsetN:
		tl := timeLen(t.Scale)
		ns = timeNanos(d[:tl], t.Scale)
		days = int64(uint24(d[tl:]))
	}
	if ns >= secondsPerDay*1e9 {
		return time.Time{}, formatErr("value", t.Type.String(), "time of day %d ns beyond one day", ns)
	}
	tm := time.Unix(unix0001+days*secondsPerDay, ns).UTC()
	if t.Type == TypeDateTimeOffsetN {
		off := int16(binary.LittleEndian.Uint16(d[len(d)-2:]))
		if off < -840 || off > 840 {
			return time.Time{}, formatErr("value", "DATETIMEOFFSET", "offset %d minutes out of range", off)
		}
		tm = tm.In(time.FixedZone("", int(off)*60))
	}
	return tm, nil
}

func uint24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }

// timeNanos decodes a TIME(scale) value into nanoseconds since midnight.
func timeNanos(b []byte, scale uint8) int64 {
	var v int64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | int64(b[i])
	}
	return v * pow10[9-scale]
}

// wallUTC returns t's wall clock as a UTC time (types without a zone store
// the wall clock as given).
func wallUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// splitDays returns whole days since base (Unix seconds) and nanoseconds into the day.
func splitDays(t time.Time, base int64) (days, ns int64) {
	secs := t.Unix() - base
	days = secs / secondsPerDay
	rem := secs % secondsPerDay
	if rem < 0 {
		days--
		rem += secondsPerDay
	}
	return days, rem*1e9 + int64(t.Nanosecond())
}

func appendTime(dst []byte, t TypeInfo, tm time.Time) ([]byte, error) {
	switch t.Type {
	case TypeDateTime, TypeDateTim4, TypeDateTimeN:
		w := wallUTC(tm)
		days, ns := splitDays(w, unix1900)
		if t.Size == 4 {
			mins := (ns + 30e9) / 60e9
			if mins == 24*60 {
				days, mins = days+1, 0
			}
			if days < 0 || days > 0xFFFF {
				return dst, fmt.Errorf("tds: %s out of range for smalldatetime", tm)
			}
			dst = binary.LittleEndian.AppendUint16(dst, uint16(days))
			return binary.LittleEndian.AppendUint16(dst, uint16(mins)), nil
		}
		ticks := (ns*3 + 5e6) / 1e7 // nearest 1/300 s
		if ticks == 300*secondsPerDay {
			days, ticks = days+1, 0
		}
		if days < -53690 || days > 2958463 { // 1753-01-01 .. 9999-12-31
			return dst, fmt.Errorf("tds: %s out of range for datetime", tm)
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(days)))
		return binary.LittleEndian.AppendUint32(dst, uint32(ticks)), nil
	}
	if t.Scale > 7 {
		return dst, fmt.Errorf("tds: scale %d > 7 for %s", t.Scale, t.Type)
	}
	var offMin int
	w := wallUTC(tm)
	if t.Type == TypeDateTimeOffsetN {
		_, off := tm.Zone()
		if off%60 != 0 || off/60 < -840 || off/60 > 840 {
			return dst, fmt.Errorf("tds: zone offset %ds not representable in datetimeoffset", off)
		}
		offMin = off / 60
		w = tm.UTC()
	}
	days, ns := splitDays(w, unix0001)
	unit := pow10[9-t.Scale]
	units := (ns + unit/2) / unit
	if units*unit >= secondsPerDay*1e9 {
		if t.Type == TypeTimeN {
			units = (secondsPerDay*1e9 - 1) / unit // clamp rather than wrap to midnight
		} else {
			days, units = days+1, 0
		}
	}
	if t.Type != TypeTimeN && (days < 0 || days > 3652058) {
		return dst, fmt.Errorf("tds: %s out of range for %s", tm, t.Type)
	}
	if t.Type != TypeDateN {
		for i := 0; i < timeLen(t.Scale); i++ {
			dst = append(dst, byte(units>>(8*i)))
		}
	}
	if t.Type != TypeTimeN {
		dst = append(dst, byte(days), byte(days>>8), byte(days>>16))
	}
	if t.Type == TypeDateTimeOffsetN {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(int16(offMin)))
	}
	return dst, nil
}
