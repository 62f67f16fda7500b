package e2e

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Mode is a client's encryption choice for one connection.
type Mode string

const (
	ModePlain     Mode = "plain"      // client cannot or will not encrypt (PRELOGIN ENCRYPT_NOT_SUP)
	ModeLoginOnly Mode = "login-only" // client sends ENCRYPT_OFF: only LOGIN7 is encrypted
	ModeTLS       Mode = "tls"        // ENCRYPT_ON: everything inside TLS, server cert trusted
	ModeStrict    Mode = "strict"     // TDS 8: TLS first, ALPN tds/8.0
)

// functionalMode is the encryption the non-login scenarios run under: full
// TLS, as production connections should.
const functionalMode = ModeTLS

// scenario is one column of the matrix.
type scenario struct {
	name   string // subtest name
	driver string // scenario name passed to the driver program (TDS_SCENARIO)
	mode   Mode
	// wire is the encryption mode the wiretap must see ("" = not checked).
	wire  string
	check func(t testing.TB, tg *Target, o *Observation)
}

var scenarios = []scenario{
	{name: "login-plain", driver: "login", mode: ModePlain, wire: wirePlain, check: checkLogin},
	{name: "login-only-tls", driver: "login", mode: ModeLoginOnly, wire: wireLoginOnly, check: checkLogin},
	{name: "login-tls", driver: "login", mode: ModeTLS, wire: wireFull, check: checkLogin},
	{name: "login-strict", driver: "login", mode: ModeStrict, wire: wireStrict, check: checkLogin},
	{name: "types", driver: "types", mode: functionalMode, check: checkTypes},
	{name: "params", driver: "params", mode: functionalMode, check: checkParams},
	{name: "tx-commit", driver: "tx-commit", mode: functionalMode, check: checkTx(2)},
	{name: "tx-rollback", driver: "tx-rollback", mode: functionalMode, check: checkTx(0)},
	{name: "error", driver: "error", mode: functionalMode, check: checkError},
	{name: "cancel", driver: "cancel", mode: functionalMode, check: checkCancel},
	{name: "large", driver: "large", mode: functionalMode, check: checkLarge},
	{name: "readonly", driver: "readonly", mode: functionalMode, check: checkReadonly},
}

// scenarioRank orders scenarios in reports as listed above.
func scenarioRank() map[string]int {
	m := make(map[string]int, len(scenarios))
	for i, s := range scenarios {
		m[s.name] = i
	}
	return m
}

func wantInt(t testing.TB, what string, got any, want int64) {
	t.Helper()
	n, ok := asInt(got)
	if !ok || n != want {
		t.Errorf("%s = %v (%T), want %d", what, got, got, want)
	}
}

func wantText(t testing.TB, what string, got any, want string) {
	t.Helper()
	if want == "" {
		return
	}
	s, ok := asString(got)
	if !ok || !strings.EqualFold(strings.TrimSpace(s), want) {
		t.Errorf("%s = %v, want %q", what, got, want)
	}
}

func wantErrNumber(t testing.TB, what string, e *ErrInfo, want int64) {
	t.Helper()
	if e == nil {
		t.Errorf("%s: no error reported, want error %d", what, want)
		return
	}
	if n, ok := e.number(); !ok || n != want {
		t.Errorf("%s: error %s, want number %d", what, e, want)
	}
}

func checkLogin(t testing.TB, tg *Target, o *Observation) {
	wantText(t, "@@SERVERNAME", o.ServerName, tg.PrimaryName)
	wantText(t, "DB_NAME()", o.Database, tg.Database)
	wantInt(t, "SELECT 1", o.One, 1)
}

// colKind says how a dbo.all_types value is compared and which client-side
// types are acceptable for it.
type colKind int

const (
	kInt colKind = iota
	kDecimal
	kFloat
	kReal
	kBool
	kString
	kBytes
	kDateTime
	kDate
	kTime
	kUUID
)

// kindTypes lists, per kind, the type names clients may report: Python,
// JavaScript, Go (reflect), Java, and "text" for tsql's printed output.
var kindTypes = map[colKind][]string{
	kInt:      {"int", "number", "int64", "Integer", "Long", "Short", "text"},
	kDecimal:  {"Decimal", "number", "[]uint8", "BigDecimal", "text"},
	kFloat:    {"float", "number", "float64", "Double", "text"},
	kReal:     {"float", "number", "float64", "float32", "Float", "text"},
	kBool:     {"bool", "boolean", "Boolean", "text"},
	kString:   {"str", "string", "String", "text"},
	kBytes:    {"bytes", "bytearray", "Buffer", "[]uint8", "byte[]", "text"},
	kDateTime: {"datetime", "Date", "time.Time", "Timestamp", "text"},
	kDate:     {"date", "datetime", "Date", "time.Time", "text", "str"},
	kTime:     {"time", "datetime", "Date", "time.Time", "Time", "text", "str"},
	kUUID:     {"UUID", "str", "string", "String", "mssql.UniqueIdentifier", "text"},
}

// expectedCol is one known value of dbo.all_types row 1.
type expectedCol struct {
	kind colKind
	want string // canonical text: decimal, hex, ISO 8601, …
	// alsoTypes are client types accepted for this column beyond kindTypes.
	alsoTypes []string
}

// matchValue compares a client's value with the canonical expectation.
func matchValue(k colKind, got any, want string) bool {
	switch k {
	case kInt:
		n, ok := asInt(got)
		w, _ := asInt(want)
		return ok && n == w
	case kDecimal:
		g, ok := asRat(got)
		w, _ := new(big.Rat).SetString(want)
		return ok && g.Cmp(w) == 0
	case kFloat, kReal:
		s, ok := asString(got)
		if !ok {
			return false
		}
		g, gok := new(big.Float).SetString(strings.TrimSpace(s))
		w, _ := new(big.Float).SetString(want)
		if !gok {
			return false
		}
		gf, _ := g.Float64()
		wf, _ := w.Float64()
		tol := 1e-12
		if k == kReal {
			tol = 1e-6
		}
		return math.Abs(gf-wf) <= tol*math.Max(1, math.Abs(wf))
	case kBool:
		b, ok := asBool(got)
		return ok && b == (want == "true")
	case kString:
		s, ok := asString(got)
		return ok && s == want
	case kBytes:
		h, ok := asHex(got)
		return ok && h == strings.ToLower(want)
	case kDateTime:
		g, prec, ok := asTimePrec(got)
		w, _ := asTime(want)
		if prec > 0 { // compare at the precision the client printed
			return ok && g.Equal(w.Truncate(prec))
		}
		return ok && absDur(g.Sub(w)) <= time.Millisecond
	case kDate:
		g, ok := asTime(got)
		w, _ := asTime(want)
		return ok && g.Format(time.DateOnly) == w.Format(time.DateOnly)
	case kTime:
		g, prec, ok := asTimePrec(got)
		w, _ := asTime(want)
		gd, wd := clock(g), clock(w)
		if prec > 0 {
			return ok && gd == wd.Truncate(prec)
		}
		return ok && absDur(gd-wd) <= time.Millisecond
	case kUUID:
		s, ok := asString(got)
		return ok && strings.EqualFold(strings.Trim(strings.TrimSpace(s), "{}"), want)
	}
	return false
}

// clock is the time of day of t.
func clock(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func typeAllowed(exp expectedCol, typ string) bool {
	for _, t := range append(kindTypes[exp.kind], exp.alsoTypes...) {
		if t == typ {
			return true
		}
	}
	return false
}

func checkTypes(t testing.TB, tg *Target, o *Observation) {
	wantInt(t, "rows in dbo.all_types", o.RowCount, 2)
	if o.Row1 == nil || o.Row2 == nil {
		t.Fatalf("rows missing: row1=%v row2=%v", o.Row1, o.Row2)
	}
	for col, exp := range allTypesRow1 {
		v, ok := lookupCol(o.Row1, col)
		if !ok {
			t.Errorf("row 1: column %s missing (got %d columns)", col, len(o.Row1))
			continue
		}
		if !matchValue(exp.kind, v.Value, exp.want) {
			t.Errorf("row 1: %s = %v (%s), want %s", col, truncate(fmt.Sprint(v.Value), 80), v.Type, truncate(exp.want, 80))
		}
		if !typeAllowed(exp, v.Type) {
			t.Errorf("row 1: %s came back as client type %q, want one of %v", col, v.Type, kindTypes[exp.kind])
		}
	}
	for col := range allTypesRow1 {
		v, ok := lookupCol(o.Row2, col)
		if !ok {
			t.Errorf("row 2: column %s missing", col)
			continue
		}
		if v.Value != nil {
			t.Errorf("row 2: %s = %v (%s), want NULL", col, v.Value, v.Type)
		}
	}
}

func lookupCol(row map[string]Value, col string) (Value, bool) {
	if v, ok := row[col]; ok {
		return v, true
	}
	for k, v := range row {
		if strings.EqualFold(k, col) {
			return v, true
		}
	}
	return Value{}, false
}

// The parameters every client sends in the params scenario.
const (
	paramInt     = 41
	paramString  = "héllo wörld ☃"
	paramDecimal = "12.345"
	paramTime    = "2024-02-29T13:45:30"
)

func checkParams(t testing.TB, tg *Target, o *Observation) {
	want := map[string]expectedCol{
		"i": {kind: kInt, want: "41"},
		"s": {kind: kString, want: paramString},
		"d": {kind: kDecimal, want: paramDecimal},
		"t": {kind: kDateTime, want: paramTime},
	}
	for name, exp := range want {
		v, ok := lookupCol(o.Params, name)
		if !ok {
			t.Errorf("parameter @%s not echoed (got %v)", name, o.Params)
			continue
		}
		// A parameter's SQL type is the client's choice, so only the value is
		// compared (decimal 12.345 may come back as 12.3450 or as a float).
		if !matchValue(exp.kind, v.Value, exp.want) {
			t.Errorf("@%s echoed as %v (%s), want %s", name, v.Value, v.Type, exp.want)
		}
	}
	wantInt(t, "COUNT(*) WHERE n <= @param", o.ParamCount, paramInt)
}

func checkTx(wantAfter int64) func(t testing.TB, tg *Target, o *Observation) {
	return func(t testing.TB, tg *Target, o *Observation) {
		wantInt(t, "rows inside the transaction", o.CountInTx, 2)
		wantInt(t, "rows seen from a second connection afterwards", o.CountAfter, wantAfter)
	}
}

func checkError(t testing.TB, tg *Target, o *Observation) {
	if len(o.Errors) != 2 {
		t.Fatalf("want 2 error observations, got %d: %v", len(o.Errors), o.Errors)
	}
	wantErrNumber(t, "SELECT from a missing table", o.Errors[0], 208)
	wantErrNumber(t, "SELECT 1/0", o.Errors[1], 8134)
	wantInt(t, "SELECT 1 after the errors", o.After, 1)
}

// cancelBudget is how long after the cancel the client may take to get
// control back: about a second, with slack for a loaded 2-core machine
// starting several client processes at once.
const cancelBudget = 1500 * time.Millisecond

func checkCancel(t testing.TB, tg *Target, o *Observation) {
	after, ok1 := asInt(o.CancelAfterMS)
	elapsed, ok2 := asInt(o.ElapsedMS)
	if !ok1 || !ok2 {
		t.Fatalf("cancel timing missing: cancel_after_ms=%v elapsed_ms=%v", o.CancelAfterMS, o.ElapsedMS)
	}
	if o.CancelError == nil {
		t.Errorf("WAITFOR DELAY '00:00:05' ended without a cancellation error after %d ms (%s)", elapsed, o.CancelMechanism)
	}
	if elapsed < after-50 {
		t.Errorf("WAITFOR ended after %d ms, before the cancel at %d ms: the server did not wait", elapsed, after)
	}
	if d := time.Duration(elapsed-after) * time.Millisecond; d > cancelBudget {
		t.Errorf("control came back %v after the cancel (%s), want within %v; error: %s", d, o.CancelMechanism, cancelBudget, o.CancelError)
	}
	wantInt(t, "SELECT 1 after the cancel", o.After, 1)
}

// largeRows is how many rows of dbo.numbers the large scenario fetches.
const largeRows = 50000

func checkLarge(t testing.TB, tg *Target, o *Observation) {
	wantInt(t, "rows", o.Rows, largeRows)
	wantInt(t, "sum of n", o.Sum, largeRows*(largeRows+1)/2)
}

func checkReadonly(t testing.TB, tg *Target, o *Observation) {
	wantText(t, "@@SERVERNAME with ApplicationIntent=ReadOnly", o.ServerName, tg.ReplicaName)
	if n, ok := asInt(o.ReadCount); !ok || n <= 0 {
		t.Errorf("SELECT COUNT(*) FROM dbo.customers on the replica = %v, want > 0", o.ReadCount)
	}
	wantErrNumber(t, "CREATE TABLE on the read-only replica", o.WriteError, 3906)
}
