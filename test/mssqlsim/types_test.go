package mssqlsim

import (
	"bytes"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAllTypes reads every column of demo.dbo.all_types with go-mssqldb,
// checks the values documented by sqlengine, that row 2 is all NULL, and
// sends each value back as a parameter (SELECT @p1) to check it survives
// the round trip.
func TestAllTypes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Config{SampleData: true})
	ctx := testCtx(t)
	db := openDB(t, c.Primary(), map[string]string{"database": "demo"})
	tests := []struct {
		col  string
		want string // fmt.Sprint of the scanned value; []byte as %x unless text
	}{
		{"c_int", "42"},
		{"c_bigint", "9007199254740993"},
		{"c_smallint", "32767"},
		{"c_tinyint", "255"},
		{"c_bit", "true"},
		{"c_decimal", "12345.6789"},
		{"c_numeric", "-98765.43"},
		{"c_float", "3.141592653589793"},
		{"c_real", "2.5"},
		{"c_money", "1234.5678"},
		{"c_nvarchar", "héllo wörld ☃"},
		{"c_varchar", "plain ascii"},
		{"c_nvarcharmax", strings.Repeat("ab", 3000)},
		{"c_varcharmax", strings.Repeat("y", 9000)},
		{"c_varbinary", "deadbeef"},
		{"c_varbinarymax", "0102030405"},
		{"c_datetime", "2024-02-29T13:45:30.123Z"},
		{"c_datetime2", "2024-02-29T13:45:30.1234567Z"},
		{"c_date", "2024-02-29T00:00:00Z"},
		{"c_time", "0001-01-01T13:45:30.1234567Z"},
		{"c_uniqueidentifier", "ff19966f868b11d0b42d00c04fc964ff"},
	}
	textual := map[string]bool{"c_decimal": true, "c_numeric": true, "c_money": true}
	show := func(col string, v any) string {
		switch x := v.(type) {
		case []byte:
			if textual[col] {
				return string(x)
			}
			return fmt.Sprintf("%x", x)
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Sprint(v)
	}
	for _, tc := range tests {
		t.Run(tc.col, func(t *testing.T) {
			var v, null any
			if err := db.QueryRowContext(ctx, "SELECT "+tc.col+" FROM dbo.all_types WHERE id = 1").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if got := show(tc.col, v); got != tc.want {
				t.Fatalf("%s = %.80q (%T), want %.80q", tc.col, got, v, tc.want)
			}
			if err := db.QueryRowContext(ctx, "SELECT "+tc.col+" FROM dbo.all_types WHERE id = 2").Scan(&null); err != nil {
				t.Fatal(err)
			}
			if null != nil {
				t.Errorf("row 2 %s = %v, want NULL", tc.col, null)
			}
			var back any
			if err := db.QueryRowContext(ctx, "SELECT @p1", v).Scan(&back); err != nil {
				t.Fatalf("sending %T back: %v", v, err)
			}
			if b1, ok := v.([]byte); ok {
				if b2, ok := back.([]byte); !ok || !bytes.Equal(b1, b2) {
					t.Errorf("round trip of %x = %v", b1, back)
				}
			} else if show(tc.col, back) != show(tc.col, v) {
				t.Errorf("round trip of %v (%T) = %v (%T)", v, v, back, back)
			}
		})
	}
	var n sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.all_types").Scan(&n); err != nil || n.Int64 != 2 {
		t.Errorf("all_types has %v rows (%v), want 2", n, err)
	}
}
