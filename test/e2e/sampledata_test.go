package e2e

import "strings"

// allTypesRow1 is dbo.all_types row id 1 as the simulator seeds it
// (test/mssqlsim/sqlengine/sample.go) and as testdata/mssql-setup.sql creates
// it on a real server. Row id 2 holds NULL in every one of these columns.
var allTypesRow1 = map[string]expectedCol{
	"c_int": {kind: kInt, want: "42"},
	// 2^53+1: a client that goes through a float64 gets it wrong; tedious
	// returns bigint as a string for that reason.
	"c_bigint":           {kind: kInt, want: "9007199254740993", alsoTypes: []string{"string"}},
	"c_smallint":         {kind: kInt, want: "32767"},
	"c_tinyint":          {kind: kInt, want: "255"},
	"c_bit":              {kind: kBool, want: "true"},
	"c_decimal":          {kind: kDecimal, want: "12345.6789"},
	"c_numeric":          {kind: kDecimal, want: "-98765.43"},
	"c_float":            {kind: kFloat, want: "3.141592653589793"},
	"c_real":             {kind: kReal, want: "2.5"},
	"c_money":            {kind: kDecimal, want: "1234.5678"},
	"c_nvarchar":         {kind: kString, want: "héllo wörld ☃"},
	"c_varchar":          {kind: kString, want: "plain ascii"},
	"c_nvarcharmax":      {kind: kString, want: strings.Repeat("ab", 3000)},
	"c_varcharmax":       {kind: kString, want: strings.Repeat("y", 9000)},
	"c_varbinary":        {kind: kBytes, want: "deadbeef"},
	"c_varbinarymax":     {kind: kBytes, want: "0102030405"},
	"c_datetime":         {kind: kDateTime, want: "2024-02-29T13:45:30.123"},
	"c_datetime2":        {kind: kDateTime, want: "2024-02-29T13:45:30.1234567"},
	"c_date":             {kind: kDate, want: "2024-02-29"},
	"c_time":             {kind: kTime, want: "13:45:30.1234567"},
	"c_uniqueidentifier": {kind: kUUID, want: "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
}
