// Command mssqlsim runs the SQL Server simulator (test/mssqlsim): a primary
// and optional replicas speaking TDS, for tests and demos. It is not a
// database for production use. Run `mssqlsim -help` for its flags.
package main

import (
	"os"

	"github.com/tdsproxy/tdsproxy/test/mssqlsim"
)

func main() { os.Exit(mssqlsim.Main(os.Args[1:])) }
