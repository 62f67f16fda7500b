package sqlengine

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"
)

// datePart normalises a DATEADD/DATEDIFF/DATEPART part name.
func datePart(p string) string {
	switch strings.ToLower(p) {
	case "year", "yy", "yyyy":
		return "year"
	case "quarter", "qq", "q":
		return "quarter"
	case "month", "mm", "m":
		return "month"
	case "dayofyear", "dy", "y":
		return "dayofyear"
	case "day", "dd", "d":
		return "day"
	case "week", "wk", "ww":
		return "week"
	case "weekday", "dw", "w":
		return "weekday"
	case "hour", "hh":
		return "hour"
	case "minute", "mi", "n":
		return "minute"
	case "second", "ss", "s":
		return "second"
	case "millisecond", "ms":
		return "millisecond"
	case "microsecond", "mcs":
		return "microsecond"
	case "nanosecond", "ns":
		return "nanosecond"
	}
	return ""
}

func dateArg(v driver.Value) (time.Time, bool, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x, true, nil
	case string:
		t, ok := parseDateTime(x)
		if !ok {
			return time.Time{}, false, sqlErr(241, "Conversion failed when converting date and/or time from character string.")
		}
		return t, true, nil
	case int64:
		return time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(x)), true, nil
	}
	return time.Time{}, false, sqlErr(8116, "Argument data type is invalid for argument 2 of date function.")
}

func fnDateAdd(a []driver.Value) (driver.Value, error) {
	part := datePart(fmt.Sprint(a[0]))
	n, ok := asInt(a[1])
	t, ok2, err := dateArg(a[2])
	if err != nil || !ok || !ok2 {
		return nil, err
	}
	var r time.Time
	switch part {
	case "year":
		r = t.AddDate(int(n), 0, 0)
	case "quarter":
		r = t.AddDate(0, 3*int(n), 0)
	case "month":
		r = t.AddDate(0, int(n), 0)
	case "day", "dayofyear", "weekday":
		r = t.AddDate(0, 0, int(n))
	case "week":
		r = t.AddDate(0, 0, 7*int(n))
	case "hour":
		r = t.Add(time.Duration(n) * time.Hour)
	case "minute":
		r = t.Add(time.Duration(n) * time.Minute)
	case "second":
		r = t.Add(time.Duration(n) * time.Second)
	case "millisecond":
		r = t.Add(time.Duration(n) * time.Millisecond)
	case "microsecond":
		r = t.Add(time.Duration(n) * time.Microsecond)
	case "nanosecond":
		r = t.Add(time.Duration(n))
	default:
		return nil, sqlErr(155, "'%v' is not a recognized dateadd option.", a[0])
	}
	if s, ok := a[2].(string); ok && len(strings.TrimSpace(s)) == 10 && (part == "year" || part == "month" || part == "day" || part == "quarter" || part == "week") {
		return r.Format(layoutDate), nil
	}
	return r.Format(layoutDT2), nil
}

func fnDateDiff(a []driver.Value) (driver.Value, error) {
	part := datePart(fmt.Sprint(a[0]))
	t1, ok1, err := dateArg(a[1])
	if err != nil {
		return nil, err
	}
	t2, ok2, err := dateArg(a[2])
	if err != nil || !ok1 || !ok2 {
		return nil, err
	}
	switch part {
	case "year":
		return int64(t2.Year() - t1.Year()), nil
	case "quarter":
		return int64((t2.Year()-t1.Year())*4 + (int(t2.Month())-1)/3 - (int(t1.Month())-1)/3), nil
	case "month":
		return int64((t2.Year()-t1.Year())*12 + int(t2.Month()) - int(t1.Month())), nil
	case "day", "dayofyear", "weekday":
		d1 := time.Date(t1.Year(), t1.Month(), t1.Day(), 0, 0, 0, 0, time.UTC)
		d2 := time.Date(t2.Year(), t2.Month(), t2.Day(), 0, 0, 0, 0, time.UTC)
		return int64(d2.Sub(d1).Hours() / 24), nil
	case "week":
		d1 := time.Date(t1.Year(), t1.Month(), t1.Day()-int(t1.Weekday()), 0, 0, 0, 0, time.UTC)
		d2 := time.Date(t2.Year(), t2.Month(), t2.Day()-int(t2.Weekday()), 0, 0, 0, 0, time.UTC)
		return int64(d2.Sub(d1).Hours() / 24 / 7), nil
	case "hour":
		return int64(t2.Truncate(time.Hour).Sub(t1.Truncate(time.Hour)) / time.Hour), nil
	case "minute":
		return int64(t2.Truncate(time.Minute).Sub(t1.Truncate(time.Minute)) / time.Minute), nil
	case "second":
		return int64(t2.Truncate(time.Second).Sub(t1.Truncate(time.Second)) / time.Second), nil
	case "millisecond":
		return t2.Sub(t1).Milliseconds(), nil
	case "microsecond":
		return t2.Sub(t1).Microseconds(), nil
	case "nanosecond":
		return t2.Sub(t1).Nanoseconds(), nil
	}
	return nil, sqlErr(155, "'%v' is not a recognized datediff option.", a[0])
}

func fnDatePart(a []driver.Value) (driver.Value, error) {
	part := datePart(fmt.Sprint(a[0]))
	t, ok, err := dateArg(a[1])
	if err != nil || !ok {
		return nil, err
	}
	switch part {
	case "year":
		return int64(t.Year()), nil
	case "quarter":
		return int64((int(t.Month())-1)/3 + 1), nil
	case "month":
		return int64(t.Month()), nil
	case "dayofyear":
		return int64(t.YearDay()), nil
	case "day":
		return int64(t.Day()), nil
	case "week":
		_, w := t.ISOWeek()
		return int64(w), nil
	case "weekday":
		return int64(t.Weekday()) + 1, nil
	case "hour":
		return int64(t.Hour()), nil
	case "minute":
		return int64(t.Minute()), nil
	case "second":
		return int64(t.Second()), nil
	case "millisecond":
		return int64(t.Nanosecond() / 1e6), nil
	case "microsecond":
		return int64(t.Nanosecond() / 1e3), nil
	case "nanosecond":
		return int64(t.Nanosecond()), nil
	}
	return nil, sqlErr(155, "'%v' is not a recognized datepart option.", a[0])
}
