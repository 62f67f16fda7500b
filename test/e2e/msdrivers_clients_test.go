package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Microsoft's own drivers (and the PyPI Python stack) as rows of the
// compatibility matrix (issue 6):
//
//	mssql-jdbc    test/clients/jdbc (pinned Maven project), run with java
//	mssql-python  test/clients/pydrivers/driver.py in the venv (ODBC Driver 18 core)
//	mssql-python-rs  the same over mssql-python's Rust TDS core
//	sqlalchemy    the same program: SQLAlchemy 2 ORM over pyodbc 5 + FreeTDS ODBC
//	pyodbc-5      test/clients/python/driver.py (the pyodbc row's program) under
//	              the venv's pyodbc 5 instead of Debian's pyodbc 4
//	tiberius      test/clients/tiberius (pinned Cargo project), the Rust driver
//
// .ci/install-msdrivers.sh installs all of them.

// init adds the rows to the shared matrix (TestClients in matrix_test.go), so
// they run against every target, next to the other clients, and land in the
// same results file. This is the one hook into the harness's files: the list
// `clients` lives in clients_test.go, owned by another engineer.
func init() {
	clients = append(clients, msDriverClients...)
}

var msDriverClients = []client{
	&jdbcClient{},
	&venvPyClient{name: "mssql-python", program: pydriversProgram, module: "mssql_python"},
	// mssql-python over its second native core, the Rust TDS implementation
	// (mssql-python-rs) that its releases announce as the next default.
	&venvPyClient{name: "mssql-python-rs", program: pydriversProgram, module: "mssql_py_core", clientEnv: "mssql-python",
		extraEnv: []string{"MSSQL_PYTHON_NATIVE_PROVIDER=mssql-odbc"}},
	&venvPyClient{name: "sqlalchemy", program: pydriversProgram, module: "sqlalchemy", odbc: true},
	&venvPyClient{name: "pyodbc-5", program: pythonProgram, module: "pyodbc", clientEnv: "pyodbc", odbc: true},
	tiberiusClient{},
}

var (
	jdbcDir          = filepath.Join(clientsDir, "jdbc")
	pydriversDir     = filepath.Join(clientsDir, "pydrivers")
	venvPython       = mustAbs(filepath.Join(pydriversDir, ".venv", "bin", "python"))
	pydriversProgram = filepath.Join(pydriversDir, "driver.py")
	pythonProgram    = filepath.Join(clientsDir, "python", "driver.py")
)

// mustAbs makes path absolute: exec resolves a relative program path against
// the command's Dir, not the test's working directory.
func mustAbs(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		panic(fmt.Sprintf("resolving %s: %v", path, err))
	}
	return abs
}

const installHint = "run .ci/install-msdrivers.sh"

// ---------------------------------------------------------------- mssql-jdbc

// jdbcClient is Microsoft's JDBC driver, driven by
// test/clients/jdbc/src/main/java/io/github/tdsproxy/e2e/Driver.java.
type jdbcClient struct {
	once sync.Once
	miss string
}

func (c *jdbcClient) Name() string { return "mssql-jdbc" }

func (c *jdbcClient) Missing() string {
	c.once.Do(func() {
		if _, err := exec.LookPath("java"); err != nil {
			c.miss = "java is not installed (Debian package openjdk-17-jdk-headless; " + installHint + ")"
			return
		}
		class := filepath.Join(jdbcDir, "target", "classes", "io", "github", "tdsproxy", "e2e", "Driver.class")
		if _, err := os.Stat(class); err != nil {
			c.miss = "the mssql-jdbc driver program is not built (" + installHint + ")"
			return
		}
		if jars, _ := filepath.Glob(filepath.Join(jdbcDir, "target", "dependency", "mssql-jdbc-*.jar")); len(jars) == 0 {
			c.miss = "mssql-jdbc is not resolved into test/clients/jdbc/target/dependency (" + installHint + ")"
		}
	})
	return c.miss
}

func (c *jdbcClient) NotApplicable(sc scenario) string {
	if sc.mode == ModePlain {
		return "mssql-jdbc never sends ENCRYPT_NOT_SUP: encrypt=false still encrypts the login (login-only)"
	}
	return ""
}

func (c *jdbcClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	cp := strings.Join([]string{"target/classes", "target/dependency/*"}, string(os.PathListSeparator))
	// C1-only JIT and a small heap keep start-up short on a loaded machine.
	cmd := exec.CommandContext(ctx, "java", "-Xss512k", "-Xmx256m", "-XX:TieredStopAtLevel=1",
		"-cp", cp, "io.github.tdsproxy.e2e.Driver")
	cmd.Dir = jdbcDir
	cmd.Env = driverEnv(r, c.Name())
	o, err := runDriver(ctx, cmd)
	if err != nil {
		return nil, err
	}
	mapJavaTypes(o)
	return o, nil
}

// javaTypes maps the Java classes mssql-jdbc's getObject returns to the
// client-type vocabulary of the checks (checks_test.go's kindTypes). A class
// not listed stays as it is and so fails the type check.
var javaTypes = map[string]string{
	"java.lang.Integer":            "int",
	"java.lang.Long":               "int",
	"java.lang.Short":              "int",
	"java.lang.Byte":               "int",
	"java.lang.Boolean":            "bool",
	"java.math.BigDecimal":         "Decimal",
	"java.lang.Double":             "float",
	"java.lang.Float":              "float32",
	"java.lang.String":             "string",
	"[B":                           "bytes",
	"java.sql.Timestamp":           "datetime",
	"java.sql.Date":                "date",
	"java.sql.Time":                "time",
	"microsoft.sql.DateTimeOffset": "datetimeoffset",
}

// mapJavaTypes rewrites the Java class names of o's values, keeping the
// class in SQLType's place when the driver gave no SQL type.
func mapJavaTypes(o *Observation) {
	for _, row := range []map[string]Value{o.Row1, o.Row2, o.Params} {
		for k, v := range row {
			if t, ok := javaTypes[v.Type]; ok {
				v.Type = t
			}
			row[k] = v
		}
	}
}

// ---------------------------------------------------------------- Python in the venv

// venvPyClient is a Python client from PyPI, run with the interpreter of
// test/clients/pydrivers/.venv.
type venvPyClient struct {
	name      string
	program   string   // driver program, relative to the e2e package
	module    string   // import that proves the client is installed
	clientEnv string   // TDS_CLIENT value ("" = name)
	odbc      bool     // needs the FreeTDS ODBC driver
	extraEnv  []string // added to the driver's environment
	once      sync.Once
	miss      string
}

func (c *venvPyClient) Name() string { return c.name }

func (c *venvPyClient) Missing() string {
	c.once.Do(func() {
		if _, err := os.Stat(venvPython); err != nil {
			c.miss = "the drivers' virtual environment test/clients/pydrivers/.venv does not exist (" + installHint + ")"
			return
		}
		if out, err := exec.Command(venvPython, "-c", "import "+c.module).CombinedOutput(); err != nil {
			c.miss = fmt.Sprintf("the venv cannot import %s (%s): %s", c.module, installHint, tail(string(out)))
			return
		}
		if c.odbc && odbcDriverPath() == "" {
			c.miss = "the FreeTDS ODBC driver libtdsodbc.so is not installed (Debian package tdsodbc)"
		}
	})
	return c.miss
}

func (c *venvPyClient) NotApplicable(sc scenario) string {
	switch c.name {
	case "mssql-python", "mssql-python-rs":
		if sc.mode == ModePlain {
			return "mssql-python (ODBC Driver 18 core) never sends ENCRYPT_NOT_SUP: Encrypt=no still encrypts the login (login-only)"
		}
	case "sqlalchemy", "pyodbc-5":
		if sc.mode == ModeStrict {
			return "FreeTDS 1.3 (the ODBC driver under " + c.name + ") has no TDS 8 (strict) support"
		}
		if c.name == "sqlalchemy" && sc.driver == "cancel" {
			return "SQLAlchemy has no statement cancel of its own; pyodbc's Cursor.cancel() is the pyodbc-5 row"
		}
	}
	return ""
}

func (c *venvPyClient) Run(ctx context.Context, r runSpec) (*Observation, error) {
	cmd := exec.CommandContext(ctx, venvPython, filepath.Base(c.program))
	cmd.Dir = filepath.Dir(c.program)
	name := c.clientEnv
	if name == "" {
		name = c.name
	}
	cmd.Env = driverEnv(r, name)
	if c.odbc {
		cmd.Env = append(cmd.Env, "TDS_ODBC_DRIVER="+odbcDriverPath())
	}
	cmd.Env = append(cmd.Env, c.extraEnv...)
	o, err := runDriver(ctx, cmd)
	if err != nil {
		return nil, err
	}
	o.Client = c.name
	if strings.HasPrefix(c.name, "mssql-python") {
		numberErrorsByMessage(o)
	}
	return o, nil
}

// serverMessages identifies SQL Server errors by their message text, for
// clients that report no native error number: mssql-python exposes only an
// exception class (chosen by SQLSTATE) and the server's message. SQL Server's
// message texts are unique per number (sys.messages), so the text is the
// server's own identification of the error; a message not listed leaves the
// number empty and fails the check that wants one.
var serverMessages = []struct {
	re     *regexp.Regexp
	number int64
}{
	{regexp.MustCompile(`\]Invalid object name '[^']*'\.$`), 208},
	{regexp.MustCompile(`\]Divide by zero error encountered\.$`), 8134},
	{regexp.MustCompile(`\]Failed to update database "[^"]*" because the database is read-only\.$`), 3906},
}

// numberErrorsByMessage fills in the number of every error in o that has
// none, from its message text.
func numberErrorsByMessage(o *Observation) {
	all := append([]*ErrInfo{o.WriteError, o.CancelError}, o.Errors...)
	for _, e := range all {
		if e == nil || e.Number != nil {
			continue
		}
		msg := strings.TrimSpace(e.Message)
		for _, m := range serverMessages {
			if m.re.MatchString(msg) {
				e.Number = m.number
				e.Class += " (number from the message text)"
				break
			}
		}
	}
}
