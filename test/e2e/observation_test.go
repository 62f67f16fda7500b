package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Observation is what a driver program (or the in-process go-mssqldb client)
// saw while running one scenario. Drivers print it as one JSON object; the
// field names are the contract with test/clients/*. A driver never judges:
// every assertion is in checks_test.go.
type Observation struct {
	Client   string `json:"client"`
	Scenario string `json:"scenario"`
	Version  string `json:"version"`
	// Failure is an unexpected error that stopped the scenario.
	Failure *ErrInfo `json:"failure"`

	ServerName any `json:"server_name"` // @@SERVERNAME
	Database   any `json:"database"`    // DB_NAME()
	One        any `json:"one"`         // SELECT 1

	RowCount any              `json:"row_count"` // types: rows in dbo.all_types
	Row1     map[string]Value `json:"row1"`      // types: row id 1, known values
	Row2     map[string]Value `json:"row2"`      // types: row id 2, all NULL

	Params     map[string]Value `json:"params"`      // params: the echoed parameters
	ParamCount any              `json:"param_count"` // params: COUNT(*) WHERE n <= @param

	CountInTx  any `json:"count_in_tx"` // tx: rows seen inside the transaction
	CountAfter any `json:"count_after"` // tx: rows seen from a second connection afterwards

	Errors []*ErrInfo `json:"errors"` // error: one per failing statement (nil: no error)
	After  any        `json:"after"`  // error, cancel: SELECT 1 on the same connection afterwards

	CancelMechanism string   `json:"cancel_mechanism"`
	CancelError     *ErrInfo `json:"cancel_error"`
	CancelAfterMS   any      `json:"cancel_after_ms"`
	ElapsedMS       any      `json:"elapsed_ms"`

	Rows any `json:"rows"` // large: rows received
	Sum  any `json:"sum"`  // large: sum of n over the rows received

	ReadCount  any      `json:"read_count"`  // readonly
	WriteError *ErrInfo `json:"write_error"` // readonly: the refused write
}

// ErrInfo is an error as a client reported it.
type ErrInfo struct {
	Number  any    `json:"number"` // native error number when the client exposes one
	Message string `json:"message"`
	Class   string `json:"class"` // the client's error type or code
}

// Value is one fetched value with the type the client gave it.
type Value struct {
	Type    string `json:"type"`    // client-side type name (Python, JS or Go)
	Value   any    `json:"value"`   // JSON-friendly form: hex for bytes, ISO 8601 for times
	SQLType string `json:"sqltype"` // SQL type when the client reports it
}

// decodeObservation parses a driver's output: the last non-empty line of
// stdout must be one JSON object.
func decodeObservation(stdout []byte) (*Observation, error) {
	lines := bytes.Split(bytes.TrimSpace(stdout), []byte("\n"))
	last := lines[len(lines)-1]
	if len(last) == 0 || last[0] != '{' {
		return nil, fmt.Errorf("driver printed no JSON object (last line %q)", truncate(string(last), 200))
	}
	dec := json.NewDecoder(bytes.NewReader(last))
	dec.UseNumber()
	var o Observation
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("decoding driver output: %w (%q)", err, truncate(string(last), 200))
	}
	return &o, nil
}

// errNumberRE finds a native error number in message text: the FreeTDS ODBC
// driver appends it in parentheses ("… Invalid object name 'x'. (208)
// (SQLExecDirectW)") and tsql prints "Msg 208 (severity 16 …)".
var errNumberRE = regexp.MustCompile(`(?:\((\d{2,6})\)(?: \(SQL\w+\))?\s*$|^Msg (\d{2,6}),?)`)

// number returns the error number: the client's own, or one found in the
// message text where the client only reports it there.
func (e *ErrInfo) number() (int64, bool) {
	if e == nil {
		return 0, false
	}
	if n, ok := asInt(e.Number); ok {
		return n, true
	}
	m := errNumberRE.FindStringSubmatch(strings.TrimSpace(e.Message))
	if m == nil {
		return 0, false
	}
	s := m[1]
	if s == "" {
		s = m[2]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (e *ErrInfo) String() string {
	if e == nil {
		return "<no error>"
	}
	var parts []string
	if e.Class != "" {
		parts = append(parts, e.Class)
	}
	if e.Number != nil {
		parts = append(parts, fmt.Sprint(e.Number))
	}
	if len(parts) == 0 {
		return e.Message
	}
	return strings.Join(parts, " ") + ": " + e.Message
}

// asInt reads an integer from a JSON number, a Go integer or decimal text.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// asString reads text; numbers are given in their JSON form.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case nil:
		return "", false
	}
	return fmt.Sprint(v), true
}

// asRat reads an exact decimal from a JSON number or decimal text.
func asRat(v any) (*big.Rat, bool) {
	s, ok := asString(v)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	return r, ok
}

// asBool reads true/false or 1/0.
func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case json.Number, string:
		s, _ := asString(x)
		switch strings.TrimSpace(strings.ToLower(s)) {
		case "1", "true":
			return true, true
		case "0", "false":
			return false, true
		}
	}
	return false, false
}

// timeLayouts are the forms clients print dates and times in.
var timeLayouts = []string{
	time.RFC3339Nano,                // JS Date.toISOString, Go
	"2006-01-02T15:04:05.999999999", // Python isoformat
	"2006-01-02 15:04:05.999999999", // tsql with a date format, SQL text
	"Jan _2 2006 15:04:05.999999999",
	"Jan _2 2006 03:04:05.999999999PM", // FreeTDS default, after freeTDSFraction
	"Jan _2 2006 03:04PM",
	"2006-01-02",
	"15:04:05.999999999",
	"03:04:05.999999999PM",
}

// freeTDSFraction matches FreeTDS's "01:45:30:123PM", whose fraction follows
// a colon, which time.Parse cannot read.
var freeTDSFraction = regexp.MustCompile(`(\d\d:\d\d:\d\d):(\d+)`)

// asTime parses a client's date/time text. The wall-clock reading is what
// counts: a zone suffix (JS reports UTC with "Z") is dropped.
func asTime(v any) (time.Time, bool) {
	t, _, ok := asTimePrec(v)
	return t, ok
}

// asTimePrec is asTime that also says to what the client printed the value:
// time.Minute for forms without seconds (tsql's default "Feb 29 2024
// 01:45PM"), else 0 (full precision).
func asTimePrec(v any) (time.Time, time.Duration, bool) {
	s, ok := asString(v)
	if !ok {
		return time.Time{}, 0, false
	}
	s = freeTDSFraction.ReplaceAllString(strings.TrimSpace(s), "$1.$2")
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			var prec time.Duration
			if !strings.Contains(l, ":05") && strings.Contains(l, ":04") {
				prec = time.Minute
			}
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), prec, true
		}
	}
	return time.Time{}, 0, false
}

// asHex normalizes binary shown as hex ("0x" prefix and case ignored).
func asHex(v any) (string, bool) {
	s, ok := asString(v)
	if !ok {
		return "", false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.TrimPrefix(s, "0x"), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
