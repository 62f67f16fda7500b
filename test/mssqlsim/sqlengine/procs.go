package sqlengine

import (
	"sort"
)

// odbcType is one row of sp_datatype_info_100 (ODBC SQLGetTypeInfo).
type odbcType struct {
	name           string
	dataType       int64
	precision      int64
	prefix, suffix any
	params         any
	caseSensitive  int64
	unsigned       any
	money          int64
	minScale       any
	maxScale       any
	sqlType        int64
	sub            any
	radix          any
}

var odbcTypes = []odbcType{
	{name: "bit", dataType: -7, precision: 1, sqlType: -7, unsigned: nil},
	{name: "tinyint", dataType: -6, precision: 3, unsigned: int64(1), minScale: int64(0), maxScale: int64(0), sqlType: -6, radix: int64(10)},
	{name: "bigint", dataType: -5, precision: 19, unsigned: int64(0), minScale: int64(0), maxScale: int64(0), sqlType: -5, radix: int64(10)},
	{name: "image", dataType: -4, precision: 2147483647, prefix: "0x", sqlType: -4},
	{name: "varbinary", dataType: -3, precision: 8000, prefix: "0x", params: "max length", sqlType: -3},
	{name: "binary", dataType: -2, precision: 8000, prefix: "0x", params: "length", sqlType: -2},
	{name: "text", dataType: -1, precision: 2147483647, prefix: "'", suffix: "'", sqlType: -1},
	{name: "ntext", dataType: -10, precision: 1073741823, prefix: "N'", suffix: "'", sqlType: -10},
	{name: "uniqueidentifier", dataType: -11, precision: 36, prefix: "'", suffix: "'", sqlType: -11},
	{name: "nvarchar", dataType: -9, precision: 4000, prefix: "N'", suffix: "'", params: "max length", sqlType: -9},
	{name: "nchar", dataType: -8, precision: 4000, prefix: "N'", suffix: "'", params: "length", sqlType: -8},
	{name: "char", dataType: 1, precision: 8000, prefix: "'", suffix: "'", params: "length", sqlType: 1},
	{name: "numeric", dataType: 2, precision: 38, params: "precision,scale", unsigned: int64(0), minScale: int64(0), maxScale: int64(38), sqlType: 2, radix: int64(10)},
	{name: "decimal", dataType: 3, precision: 38, params: "precision,scale", unsigned: int64(0), minScale: int64(0), maxScale: int64(38), sqlType: 3, radix: int64(10)},
	{name: "money", dataType: 3, precision: 19, prefix: "$", unsigned: int64(0), money: 1, minScale: int64(4), maxScale: int64(4), sqlType: 3, radix: int64(10)},
	{name: "smallmoney", dataType: 3, precision: 10, prefix: "$", unsigned: int64(0), money: 1, minScale: int64(4), maxScale: int64(4), sqlType: 3, radix: int64(10)},
	{name: "int", dataType: 4, precision: 10, unsigned: int64(0), minScale: int64(0), maxScale: int64(0), sqlType: 4, radix: int64(10)},
	{name: "smallint", dataType: 5, precision: 5, unsigned: int64(0), minScale: int64(0), maxScale: int64(0), sqlType: 5, radix: int64(10)},
	{name: "float", dataType: 6, precision: 53, unsigned: int64(0), sqlType: 6, radix: int64(2)},
	{name: "real", dataType: 7, precision: 24, unsigned: int64(0), sqlType: 7, radix: int64(2)},
	{name: "varchar", dataType: 12, precision: 8000, prefix: "'", suffix: "'", params: "max length", sqlType: 12},
	{name: "date", dataType: 91, precision: 10, prefix: "'", suffix: "'", sqlType: 9, sub: int64(1)},
	{name: "time", dataType: 92, precision: 16, prefix: "'", suffix: "'", params: "scale", minScale: int64(0), maxScale: int64(7), sqlType: 9, sub: int64(2)},
	{name: "datetime", dataType: 93, precision: 23, prefix: "'", suffix: "'", minScale: int64(3), maxScale: int64(3), sqlType: 9, sub: int64(3)},
	{name: "datetime2", dataType: 93, precision: 27, prefix: "'", suffix: "'", params: "scale", minScale: int64(0), maxScale: int64(7), sqlType: 9, sub: int64(3)},
	{name: "smalldatetime", dataType: 93, precision: 16, prefix: "'", suffix: "'", minScale: int64(0), maxScale: int64(0), sqlType: 9, sub: int64(3)},
}

var datatypeInfoCols = []struct {
	name string
	typ  sqlType
}{
	{"TYPE_NAME", typSysname}, {"DATA_TYPE", sqlType{name: "smallint"}}, {"PRECISION", typInt},
	{"LITERAL_PREFIX", sqlType{name: "varchar", size: 32}}, {"LITERAL_SUFFIX", sqlType{name: "varchar", size: 32}},
	{"CREATE_PARAMS", sqlType{name: "varchar", size: 32}}, {"NULLABLE", sqlType{name: "smallint"}},
	{"CASE_SENSITIVE", sqlType{name: "smallint"}}, {"SEARCHABLE", sqlType{name: "smallint"}},
	{"UNSIGNED_ATTRIBUTE", sqlType{name: "smallint"}}, {"MONEY", sqlType{name: "smallint"}},
	{"AUTO_INCREMENT", sqlType{name: "smallint"}}, {"LOCAL_TYPE_NAME", typSysname},
	{"MINIMUM_SCALE", sqlType{name: "smallint"}}, {"MAXIMUM_SCALE", sqlType{name: "smallint"}},
	{"SQL_DATA_TYPE", sqlType{name: "smallint"}}, {"SQL_DATETIME_SUB", sqlType{name: "smallint"}},
	{"NUM_PREC_RADIX", typInt}, {"INTERVAL_PRECISION", sqlType{name: "smallint"}}, {"USERTYPE", sqlType{name: "smallint"}},
}

// datatypeInfo answers sp_datatype_info_100 @data_type (nil or 0 = all).
func (ex *execCtx) datatypeInfo(dt any) error {
	want, filter := asInt(dt)
	filter = filter && want != 0
	rows := make([]odbcType, 0, len(odbcTypes))
	for _, t := range odbcTypes {
		if !filter || t.dataType == want {
			rows = append(rows, t)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].dataType < rows[j].dataType })
	names := make([]string, len(datatypeInfoCols))
	types := make([]sqlType, len(datatypeInfoCols))
	for i, c := range datatypeInfoCols {
		names[i], types[i] = c.name, c.typ
	}
	if err := ex.sendColumns(names, types); err != nil {
		return err
	}
	searchable := func(t odbcType) int64 {
		switch t.name {
		case "text", "ntext", "image":
			return 1
		}
		return 3
	}
	for _, t := range rows {
		autoinc := any(nil)
		if t.unsigned != nil {
			autoinc = int64(0)
		}
		vals := []any{t.name, t.dataType, t.precision, t.prefix, t.suffix, t.params, int64(1), t.caseSensitive,
			searchable(t), t.unsigned, t.money, autoinc, t.name, t.minScale, t.maxScale, t.sqlType, t.sub, t.radix, nil, int64(0)}
		out := make([]any, len(vals))
		for i, v := range vals {
			w, err := wireValue(v, types[i])
			if err != nil {
				return err
			}
			out[i] = w
		}
		if err := ex.w.Row(out); err != nil {
			return &writerError{err}
		}
	}
	return ex.done(StatementResult{RowCount: int64(len(rows)), HasCount: !ex.s.opts.nocount, CurCmd: 0xC1})
}

// serverInfo answers sp_server_info with a few attributes.
func (ex *execCtx) serverInfo() error {
	names := []string{"attribute_id", "attribute_name", "attribute_value"}
	types := []sqlType{typInt, typSysname, {name: "varchar", size: 255}}
	if err := ex.sendColumns(names, types); err != nil {
		return err
	}
	rows := [][]any{
		{int64(1), "DBMS_NAME", "Microsoft SQL Server"},
		{int64(2), "DBMS_VER", "Microsoft SQL Server 2022 - 16.0.1000.6 (mssqlsim)"},
		{int64(500), "SYS_SPROC_VERSION", "16.00.1000"},
	}
	for _, r := range rows {
		if err := ex.w.Row(r); err != nil {
			return &writerError{err}
		}
	}
	return ex.done(StatementResult{RowCount: int64(len(rows)), HasCount: !ex.s.opts.nocount, CurCmd: 0xC1})
}
