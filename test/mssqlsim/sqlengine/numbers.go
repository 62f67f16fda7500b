package sqlengine

import (
	"fmt"
	"strconv"
	"strings"

	"modernc.org/sqlite/vtab"
)

// numbersModule is the SQLite virtual table module behind dbo.numbers: the
// integers 1..N (N is the module argument), computed rather than stored so
// that Open stays fast, with range constraints on n pushed down.
type numbersModule struct{}

func (numbersModule) Create(ctx vtab.Context, args []string) (vtab.Table, error) {
	return numbersConnect(ctx, args)
}

func (numbersModule) Connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	return numbersConnect(ctx, args)
}

func numbersConnect(ctx vtab.Context, args []string) (vtab.Table, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("tsql_numbers: the row count argument is missing")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(args[3]), 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("tsql_numbers: invalid row count %q", args[3])
	}
	if err := ctx.Declare("CREATE TABLE x(n INT NOT NULL)"); err != nil {
		return nil, err
	}
	return &numbersTable{max: n}, nil
}

type numbersTable struct{ max int64 }

// BestIndex pushes =, <, <=, >, >= on n down to the cursor; idxStr lists
// the operators in argument order.
func (t *numbersTable) BestIndex(info *vtab.IndexInfo) error {
	var ops []string
	for i := range info.Constraints {
		c := &info.Constraints[i]
		if !c.Usable || c.Column != 0 {
			continue
		}
		var op string
		switch c.Op {
		case vtab.OpEQ:
			op = "="
		case vtab.OpLT:
			op = "<"
		case vtab.OpLE:
			op = "<="
		case vtab.OpGT:
			op = ">"
		case vtab.OpGE:
			op = ">="
		default:
			continue
		}
		c.ArgIndex = len(ops)
		ops = append(ops, op)
	}
	info.IdxStr = strings.Join(ops, ",")
	info.EstimatedRows = t.max
	if len(ops) > 0 {
		info.EstimatedRows = 10
	}
	info.EstimatedCost = float64(info.EstimatedRows)
	if len(info.OrderBy) == 1 && info.OrderBy[0].Column == 0 && !info.OrderBy[0].Desc {
		info.OrderByConsumed = true
	}
	return nil
}

func (t *numbersTable) Open() (vtab.Cursor, error) { return &numbersCursor{t: t}, nil }
func (t *numbersTable) Disconnect() error          { return nil }
func (t *numbersTable) Destroy() error             { return nil }

type numbersCursor struct {
	t   *numbersTable
	cur int64
	hi  int64
}

func (c *numbersCursor) Filter(_ int, idxStr string, vals []vtab.Value) error {
	lo, hi := int64(1), c.t.max
	if idxStr != "" {
		for i, op := range strings.Split(idxStr, ",") {
			if i >= len(vals) {
				break
			}
			var v int64
			switch x := vals[i].(type) {
			case int64:
				v = x
			case float64:
				v = int64(x)
				if op == ">" || op == ">=" {
					if float64(v) < x {
						v++
					}
				}
			default:
				lo, hi = 1, 0 // compared with a non-number: let SQLite filter nothing
				continue
			}
			switch op {
			case "=":
				lo, hi = max(lo, v), min(hi, v)
			case "<":
				hi = min(hi, v-1)
			case "<=":
				hi = min(hi, v)
			case ">":
				lo = max(lo, v+1)
			case ">=":
				lo = max(lo, v)
			}
		}
	}
	c.cur, c.hi = lo, hi
	return nil
}

func (c *numbersCursor) Next() error                    { c.cur++; return nil }
func (c *numbersCursor) Eof() bool                      { return c.cur > c.hi }
func (c *numbersCursor) Column(int) (vtab.Value, error) { return c.cur, nil }
func (c *numbersCursor) Rowid() (int64, error)          { return c.cur, nil }
func (c *numbersCursor) Close() error                   { return nil }

func registerNumbers() error {
	return vtab.RegisterModule(nil, "tsql_numbers", numbersModule{})
}
