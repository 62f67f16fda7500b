package e2e

import (
	"encoding/json"
	"testing"
)

// Tests of the Microsoft-driver adapters: they translate what a driver
// reports into the checks' vocabulary, so a wrong translation would turn a
// real failure into a pass.

func TestMapJavaTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		col      string
		javaType string
		want     string
		allowed  bool // typeAllowed for the column's expectation afterwards
	}{
		{"int as Integer", "c_int", "java.lang.Integer", "int", true},
		{"bigint as Long", "c_bigint", "java.lang.Long", "int", true},
		{"tinyint as Short", "c_tinyint", "java.lang.Short", "int", true},
		{"decimal as BigDecimal", "c_decimal", "java.math.BigDecimal", "Decimal", true},
		{"real as Float", "c_real", "java.lang.Float", "float32", true},
		{"binary as byte[]", "c_varbinary", "[B", "bytes", true},
		{"datetime2 as Timestamp", "c_datetime2", "java.sql.Timestamp", "datetime", true},
		{"time as java.sql.Time", "c_time", "java.sql.Time", "time", true},
		{"uniqueidentifier as String", "c_uniqueidentifier", "java.lang.String", "string", true},
		{"an int column as String is still wrong", "c_int", "java.lang.String", "string", false},
		{"an unknown class stays and fails", "c_int", "java.lang.Object", "java.lang.Object", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &Observation{Row1: map[string]Value{tc.col: {Type: tc.javaType, Value: json.Number("1")}}}
			mapJavaTypes(o)
			got := o.Row1[tc.col].Type
			if got != tc.want {
				t.Errorf("type %q became %q, want %q", tc.javaType, got, tc.want)
			}
			if ok := typeAllowed(allTypesRow1[tc.col], got); ok != tc.allowed {
				t.Errorf("typeAllowed(%s, %q) = %v, want %v", tc.col, got, ok, tc.allowed)
			}
		})
	}
}

func TestNumberErrorsByMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		message string
		number  any // the client's own number, if any
		want    int64
		ok      bool
	}{
		{"invalid object", "[Microsoft][SQL Server]Invalid object name 'dbo.no_such_table_e2e'.", nil, 208, true},
		{"divide by zero", "[Microsoft][SQL Server]Divide by zero error encountered.", nil, 8134, true},
		{"read-only database", `[Microsoft][SQL Server]Failed to update database "demo" because the database is read-only.`, nil, 3906, true},
		{"the client's own number wins", "[Microsoft][SQL Server]Divide by zero error encountered.", json.Number("1"), 1, true},
		{"a message that only mentions the text", "Invalid object name 'x'. was not expected here", nil, 0, false},
		{"a driver error is not a server error", "[Microsoft]Query timeout expired", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &ErrInfo{Message: tc.message, Number: tc.number, Class: "ProgrammingError"}
			o := &Observation{Errors: []*ErrInfo{e, nil}}
			numberErrorsByMessage(o)
			got, ok := e.number()
			if got != tc.want || ok != tc.ok {
				t.Errorf("number() = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestDecodePatternObservation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		wantErr bool
	}{
		{"last line is the object", "noise\n{\"client\":\"sqlalchemy\",\"checkouts\":[{\"spid\":51,\"lock_timeout\":4321}]}\n", false},
		{"no JSON", "Traceback (most recent call last):\n", true},
		{"broken JSON", "{\"checkouts\":[\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := decodePatternObservation([]byte(tc.out))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil {
				if len(o.Checkouts) != 1 {
					t.Fatalf("checkouts = %v", o.Checkouts)
				}
				wantInt(t, "lock_timeout", o.Checkouts[0].LockTimeout, 4321)
			}
		})
	}
}

func TestMapRustTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		col      string
		rustType string
		sqlType  string
		allowed  bool
	}{
		{"tinyint as u8", "c_tinyint", "u8", "Int1", true},
		{"decimal as Numeric", "c_decimal", "Numeric", "Decimaln", true},
		{"money as f64 is a number", "c_money", "f64", "Money", true},
		{"float as f64", "c_float", "f64", "Float8", true},
		{"a decimal column as f64 is still wrong", "c_decimal", "f64", "Decimaln", false},
		{"time as NaiveTime", "c_time", "NaiveTime", "Timen", true},
		{"uuid as Uuid", "c_uniqueidentifier", "Uuid", "Guid", true},
		{"an unknown type stays and fails", "c_int", "Xml", "Xml", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &Observation{Row1: map[string]Value{tc.col: {Type: tc.rustType, SQLType: tc.sqlType}}}
			mapRustTypes(o)
			got := o.Row1[tc.col].Type
			if ok := typeAllowed(allTypesRow1[tc.col], got); ok != tc.allowed {
				t.Errorf("%s as %s became %q: typeAllowed = %v, want %v", tc.col, tc.rustType, got, ok, tc.allowed)
			}
		})
	}
}
