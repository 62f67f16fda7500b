package e2e

// allTypesRow1 is dbo.all_types row id 1 as the simulator seeds it
// (documented in test/mssqlsim/sqlengine/doc.go) and as
// testdata/mssql-setup.sql creates it on a real server. Row id 2 holds NULL
// in every one of these columns.
var allTypesRow1 = map[string]expectedCol{
	"c_int":              {kInt, "2147483647"},
	"c_bigint":           {kInt, "9223372036854775807"},
	"c_smallint":         {kInt, "-32768"},
	"c_tinyint":          {kInt, "255"},
	"c_bit":              {kBool, "true"},
	"c_decimal":          {kDecimal, "12345678901234.5678"},
	"c_numeric":          {kDecimal, "-12345678.90"},
	"c_float":            {kFloat, "3.141592653589793"},
	"c_real":             {kReal, "2.5"},
	"c_money":            {kDecimal, "922337203685477.5807"},
	"c_nvarchar":         {kString, "héllo wörld ☃"},
	"c_varchar":          {kString, "hello world"},
	"c_nvarcharmax":      {kString, "ünïcødé max"},
	"c_varcharmax":       {kString, "ascii max"},
	"c_varbinary":        {kBytes, "deadbeef"},
	"c_varbinarymax":     {kBytes, "00ff00ff"},
	"c_datetime":         {kDateTime, "2024-02-29T13:45:30.123"},
	"c_datetime2":        {kDateTime, "2024-02-29T13:45:30.1234567"},
	"c_date":             {kDate, "2024-02-29"},
	"c_time":             {kTime, "13:45:30.1234567"},
	"c_uniqueidentifier": {kUUID, "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
}
