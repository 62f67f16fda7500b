package sqlengine

import (
	"reflect"
	"strings"
	"testing"
)

// TestErrors checks SQL Server error numbers, classes and whether the batch
// goes on after the error (the statement after it selects 'next').
func TestErrors(t *testing.T) {
	t.Parallel()
	db := fresh(t)
	setup := session(t, db, "master")
	mustRun(t, setup, `CREATE TABLE dbo.k (id int PRIMARY KEY, v varchar(10) NOT NULL)
		INSERT INTO dbo.k VALUES (1, 'a')`)
	tests := []struct {
		name      string
		sql       string
		number    int32
		class     uint8
		continues bool   // the batch's next statement runs
		msgPart   string // part of the message
	}{
		{"syntax error aborts before anything runs", "SELECT 1 SELECT FROM WHERE", ErrSyntax, 15, false, "Incorrect syntax"},
		{"invalid object", "SELECT * FROM dbo.nope", ErrInvalidObject, 16, false, "Invalid object name 'dbo.nope'"},
		{"invalid column", "SELECT nope FROM dbo.k", ErrInvalidColumn, 16, false, "Invalid column name 'nope'"},
		{"divide by zero", "SELECT 1/0", ErrDivideByZero, 16, true, "Divide by zero"},
		{"modulo by zero", "SELECT 5 % 0", ErrDivideByZero, 16, true, "Divide by zero"},
		{"duplicate key", "INSERT INTO dbo.k VALUES (1, 'b')", ErrDuplicateKey, 14, true, "Violation of PRIMARY KEY"},
		{"null into not null", "INSERT INTO dbo.k (id, v) VALUES (2, NULL)", ErrNullInsert, 16, true, "Cannot insert the value NULL into column 'v'"},
		{"conversion failed", "SELECT CAST('abc' AS int)", ErrConversion, 16, false, "Conversion failed"},
		{"undeclared variable", "SELECT @nope", ErrMustDeclare, 15, false, "@nope"},
		{"unknown database", "USE nodb", ErrNoSuchDatabase, 16, false, "nodb"},
		{"commit without begin", "COMMIT", ErrCommitNoTran, 16, true, "no corresponding BEGIN"},
		{"rollback without begin", "ROLLBACK", ErrRollbackNoTran, 16, true, "no corresponding BEGIN"},
		{"unknown procedure", "EXEC dbo.nope", ErrNoSuchProcedure, 16, true, "Could not find stored procedure"},
		{"table exists", "CREATE TABLE dbo.k (x int)", ErrObjectExists, 16, false, "already an object named 'k'"},
		{"drop missing table", "DROP TABLE dbo.nope", 3701, 11, true, "Cannot drop the table"},
		{"raiserror", "RAISERROR('custom %d', 16, 2)", 50000, 16, true, "custom"},
		{"throw", "THROW 51000, 'thrown', 1", 51000, 16, false, "thrown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := session(t, db, "master")
			r := run(t, s, tc.sql+"\nSELECT 'next' AS n")
			if len(r.errs) != 1 {
				t.Fatalf("errors %v, events %v", r.errs, r.events)
			}
			e := r.errs[0]
			if e.Number != tc.number || e.Class != tc.class {
				t.Errorf("error %d class %d, want %d class %d (%s)", e.Number, e.Class, tc.number, tc.class, e.Message)
			}
			if !strings.Contains(e.Message, tc.msgPart) {
				t.Errorf("message %q does not contain %q", e.Message, tc.msgPart)
			}
			if e.ServerName != "SIMTEST" {
				t.Errorf("server name %q", e.ServerName)
			}
			ran := false
			for _, set := range r.sets {
				if len(set.cols) == 1 && set.cols[0].Name == "n" {
					ran = true
				}
			}
			if ran != tc.continues {
				t.Errorf("next statement ran = %v, want %v (events %v)", ran, tc.continues, r.events)
			}
			last := r.dones[len(r.dones)-1]
			if !tc.continues && !last.Error {
				t.Errorf("last DONE %+v lacks the error flag", last)
			}
		})
	}
}

// TestErrorMidResult: a row-level error after some rows (like SQL Server,
// the rows already sent stay sent, then ERROR and DONE with the error bit).
func TestErrorMidResult(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	mustRun(t, s, "CREATE TABLE dbo.t15 (id int) INSERT INTO dbo.t15 VALUES (1),(2),(3),(4),(5),(6)")
	r := run(t, s, "SELECT id, 10/(id-5) AS q FROM dbo.t15")
	want := []string{"COLMETADATA", "ROW", "ROW", "ROW", "ROW", "ERROR 8134", "DONE(0,count=false,err=true)"}
	if !reflect.DeepEqual(r.events, want) {
		t.Errorf("events %v, want %v", r.events, want)
	}
}

// TestXactAbort: with XACT_ABORT ON a statement error rolls the transaction
// back and aborts the batch.
func TestXactAbort(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	mustRun(t, s, "CREATE TABLE dbo.x (id int PRIMARY KEY)")
	r := run(t, s, `SET XACT_ABORT ON
		BEGIN TRAN
		INSERT INTO dbo.x VALUES (1)
		INSERT INTO dbo.x VALUES (1)
		SELECT 'not reached'`)
	if len(r.errs) != 1 || r.errs[0].Number != ErrDuplicateKey {
		t.Fatalf("errors %v", r.errs)
	}
	if s.TranCount() != 0 {
		t.Errorf("trancount %d after XACT_ABORT error", s.TranCount())
	}
	if n := mustRun(t, s, "SELECT COUNT(*) FROM dbo.x").scalar(t); n != int64(0) {
		t.Errorf("rows after rollback: %v", n)
	}
}

// TestTryCatch: an error inside TRY runs CATCH with ERROR_NUMBER().
func TestTryCatch(t *testing.T) {
	t.Parallel()
	s := session(t, fresh(t), "master")
	r := mustRun(t, s, `BEGIN TRY
		SELECT 1/0
	END TRY
	BEGIN CATCH
		SELECT ERROR_NUMBER() AS num, ERROR_MESSAGE() AS msg
	END CATCH`)
	if len(r.sets) != 1 || r.sets[0].rows[0][0] != int64(ErrDivideByZero) {
		t.Fatalf("events %v sets %+v", r.events, r.sets)
	}
}
