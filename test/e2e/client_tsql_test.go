package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// tsqlClient is FreeTDS's tsql (libtds, no ODBC or DB-Library on top). It
// reads T-SQL batches separated by "go" on stdin; the test parses what it
// prints. Each step of a scenario is preceded by a marker batch
// (SELECT 'mark:N'), and stdout and stderr share one pipe with line
// buffering, so errors ("Msg 208 …") are attributed to the right step.
type tsqlClient struct {
	once sync.Once
	miss string
	ver  string
}

func (c *tsqlClient) Name() string { return "tsql" }

func (c *tsqlClient) Missing() string {
	c.once.Do(func() {
		if _, err := exec.LookPath("tsql"); err != nil {
			c.miss = "tsql is not installed (Debian package freetds-bin)"
			return
		}
		out, _ := exec.Command("tsql", "-C").CombinedOutput()
		if m := regexp.MustCompile(`Version:\s*freetds v?(\S+)`).FindSubmatch(out); m != nil {
			c.ver = "FreeTDS " + string(m[1])
		}
	})
	return c.miss
}

func (c *tsqlClient) NotApplicable(sc scenario) string {
	switch {
	case sc.mode == ModeStrict:
		return "FreeTDS 1.3 has no TDS 8 (strict) support"
	case sc.driver == "cancel":
		return "tsql has no way to cancel a running batch (no Attention command, no query timeout)"
	}
	return ""
}

// tsqlStep is the output of one step: a result set (header and rows) and
// the errors reported while it ran.
type tsqlStep struct {
	header []string
	rows   [][]string
	errors []*ErrInfo
}

// runTSQL runs steps (each one batch) on one tsql connection.
func (c *tsqlClient) runTSQL(ctx context.Context, r runSpec, addr string, readonly bool, steps []string) ([]tsqlStep, error) {
	conf, err := writeFreeTDSConf(r.tmp, r.sc.mode, readonly)
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	var script strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&script, "SELECT 'mark:%d' AS %s\ngo\n%s\ngo\n", i, tsqlMarkerCol, s)
	}
	fmt.Fprintf(&script, "SELECT 'mark:%d' AS %s\ngo\nexit\n", len(steps), tsqlMarkerCol)

	// The password is passed with -P: tsql has no other non-interactive way.
	cmd := exec.CommandContext(ctx, "stdbuf", "-oL", "-eL", "tsql",
		"-H", host, "-p", port, "-U", r.tg.User, "-P", r.tg.Password, "-D", r.tg.Database, "-o", "q")
	cmd.Env = append(os.Environ(), "TDSVER=7.4", "FREETDSCONF="+conf, "LANG=C.UTF-8")
	cmd.Stdin = strings.NewReader(script.String())
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe keeps results and errors in order
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("starting tsql: %w", err)
	}
	pw.Close()
	var out bytes.Buffer
	copyDone := make(chan struct{})
	go func() {
		io.Copy(&out, pr)
		close(copyDone)
	}()
	werr := cmd.Wait()
	<-copyDone
	pr.Close()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("tsql timed out: %w (output: %s)", ctx.Err(), tail(out.String()))
	}
	res, perr := parseTSQL(out.String(), len(steps))
	if perr != nil {
		return nil, fmt.Errorf("%w (exit: %v; output: %s)", perr, werr, tail(out.String()))
	}
	return res, nil
}

var tsqlMsgRE = regexp.MustCompile(`^Msg (\d+)(?: \(severity (\d+), state (\d+)\))?`)

// tsqlMarkerCol names the marker result sets' column. With -o q tsql prints
// no prompts and no "(n rows affected)" footers: a result set is its header
// line and its rows, so the marker's header line closes the step before it.
const tsqlMarkerCol = "tdsproxy_e2e_marker"

// parseTSQL splits tsql's output at the marker rows and reads each step's
// result set (header and rows) and its error messages.
func parseTSQL(out string, nsteps int) ([]tsqlStep, error) {
	steps := make([]tsqlStep, nsteps)
	cur := -1        // the step being read; -1 before the first marker
	var msg *ErrInfo // the error whose text lines follow
	seenLast := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == tsqlMarkerCol {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(line, "mark:%d", &n); err == nil && line == fmt.Sprintf("mark:%d", n) {
			cur, msg = n, nil
			seenLast = seenLast || n == nsteps
			continue
		}
		if cur < 0 || cur >= nsteps {
			continue
		}
		st := &steps[cur]
		if m := tsqlMsgRE.FindStringSubmatch(line); m != nil {
			var num int64
			fmt.Sscanf(m[1], "%d", &num)
			msg = &ErrInfo{Number: num, Message: line, Class: "tsql"}
			st.errors = append(st.errors, msg)
			continue
		}
		if msg != nil && strings.HasPrefix(line, "\t") {
			msg.Message += " " + strings.Trim(strings.TrimSpace(line), `"`)
			continue
		}
		msg = nil
		if st.header == nil {
			st.header = strings.Split(line, "\t")
			continue
		}
		st.rows = append(st.rows, strings.Split(line, "\t"))
	}
	if !seenLast {
		return nil, fmt.Errorf("tsql output ends before the last marker (login failed or tsql died)")
	}
	return steps, nil
}

// one returns the single value of a step's result set.
func (s tsqlStep) one() (any, error) {
	if len(s.errors) > 0 {
		return nil, fmt.Errorf("%s", s.errors[0])
	}
	if len(s.rows) != 1 || len(s.rows[0]) != 1 {
		return nil, fmt.Errorf("want one value, got header %q rows %q", s.header, s.rows)
	}
	return s.rows[0][0], nil
}

func tsqlValue(s string) Value {
	if s == "NULL" {
		return Value{Type: "text", Value: nil}
	}
	return Value{Type: "text", Value: s}
}

func (c *tsqlClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	o := &Observation{Client: c.Name(), Scenario: r.sc.driver, Version: c.ver}
	if err := c.scenario(ctx, r, o); err != nil {
		o.Failure = &ErrInfo{Message: err.Error(), Class: "tsql"}
	}
	return o, nil
}

func (c *tsqlClient) scenario(ctx context.Context, r runSpec, o *Observation) error {
	run := func(steps ...string) ([]tsqlStep, error) { return c.runTSQL(ctx, r, r.addr, false, steps) }
	switch r.sc.driver {
	case "login":
		st, err := run("SELECT @@SERVERNAME", "SELECT DB_NAME()", "SELECT 1")
		if err != nil {
			return err
		}
		if o.ServerName, err = st[0].one(); err != nil {
			return err
		}
		if o.Database, err = st[1].one(); err != nil {
			return err
		}
		o.One, err = st[2].one()
		return err
	case "types":
		st, err := run("SELECT * FROM dbo.all_types ORDER BY id")
		if err != nil {
			return err
		}
		if len(st[0].errors) > 0 {
			return fmt.Errorf("%s", st[0].errors[0])
		}
		o.RowCount = int64(len(st[0].rows))
		for i, row := range st[0].rows {
			vals := map[string]Value{}
			for j, h := range st[0].header {
				if j < len(row) {
					vals[h] = tsqlValue(row[j])
				}
			}
			switch i {
			case 0:
				o.Row1 = vals
			case 1:
				o.Row2 = vals
			}
		}
		return nil
	case "params":
		// tsql has no client-side parameters: the server-side path,
		// sp_executesql, is called from the batch.
		st, err := run(
			"EXEC sp_executesql N'SELECT @i AS i, @s AS s, @d AS d, @t AS t', "+
				"N'@i int, @s nvarchar(50), @d decimal(10,4), @t datetime', "+
				"@i = 41, @s = N'"+paramString+"', @d = 12.3450, @t = '"+paramTime+"'",
			"EXEC sp_executesql N'SELECT COUNT(*) FROM dbo.numbers WHERE n <= @n', N'@n int', @n = 41")
		if err != nil {
			return err
		}
		if len(st[0].errors) > 0 {
			return fmt.Errorf("%s", st[0].errors[0])
		}
		if len(st[0].rows) != 1 {
			return fmt.Errorf("params: want one row, got %q", st[0].rows)
		}
		o.Params = map[string]Value{}
		for j, h := range st[0].header {
			if j < len(st[0].rows[0]) {
				o.Params[h] = tsqlValue(st[0].rows[0][j])
			}
		}
		o.ParamCount, err = st[1].one()
		return err
	case "tx-commit", "tx-rollback":
		end := "COMMIT TRANSACTION"
		if r.sc.driver == "tx-rollback" {
			end = "ROLLBACK TRANSACTION"
		}
		t := "dbo." + r.table
		st, err := run(
			"CREATE TABLE "+t+" (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)",
			"BEGIN TRANSACTION\nINSERT INTO "+t+" (id, v) VALUES (1, N'one')\nINSERT INTO "+t+" (id, v) VALUES (2, N'two')",
			"SELECT COUNT(*) FROM "+t,
			end)
		if err != nil {
			return err
		}
		for i, s := range st {
			if i != 2 && len(s.errors) > 0 {
				return fmt.Errorf("step %d: %s", i, s.errors[0])
			}
		}
		if o.CountInTx, err = st[2].one(); err != nil {
			return err
		}
		st2, err := run("SELECT COUNT(*) FROM "+t, "DROP TABLE "+t)
		if err != nil {
			return err
		}
		o.CountAfter, err = st2[0].one()
		return err
	case "error":
		st, err := run("SELECT * FROM dbo.no_such_table_e2e", "SELECT 1/0", "SELECT 1")
		if err != nil {
			return err
		}
		for _, s := range st[:2] {
			var e *ErrInfo
			if len(s.errors) > 0 {
				e = s.errors[0]
			}
			o.Errors = append(o.Errors, e)
		}
		o.After, err = st[2].one()
		return err
	case "large":
		st, err := run(fmt.Sprintf("SELECT n FROM dbo.numbers WHERE n <= %d", largeRows))
		if err != nil {
			return err
		}
		if len(st[0].errors) > 0 {
			return fmt.Errorf("%s", st[0].errors[0])
		}
		var sum int64
		for _, row := range st[0].rows {
			n, ok := asInt(row[0])
			if !ok {
				return fmt.Errorf("large: row %q is not a number", row)
			}
			sum += n
		}
		o.Rows, o.Sum = int64(len(st[0].rows)), sum
		return nil
	case "readonly":
		st, err := c.runTSQL(ctx, r, r.roAddr, true, []string{
			"SELECT @@SERVERNAME", "SELECT COUNT(*) FROM dbo.customers",
			"CREATE TABLE dbo." + r.table + " (id int)"})
		if err != nil {
			return err
		}
		if o.ServerName, err = st[0].one(); err != nil {
			return err
		}
		if o.ReadCount, err = st[1].one(); err != nil {
			return err
		}
		if len(st[2].errors) > 0 {
			o.WriteError = st[2].errors[0]
		}
		return nil
	}
	return fmt.Errorf("tsql: unknown scenario %q", r.sc.driver)
}
