package policy

import (
	"fmt"
	"strings"
)

// Kind is the kind of one T-SQL statement, and the action a policy rule
// names. Kind names (String) are the action names used in policy files.
type Kind uint8

// Statement kinds.
const (
	KindUnknown          Kind = iota // anything the classifier cannot place; denied unless a rule allows "unknown"
	KindSelect                       // SELECT (and reads of objects by other statements)
	KindInsert                       // INSERT
	KindUpdate                       // UPDATE (also NEXT VALUE FOR a sequence)
	KindDelete                       // DELETE
	KindMerge                        // MERGE
	KindTruncate                     // TRUNCATE TABLE
	KindBulkInsert                   // BULK INSERT and the INSERT BULK of a bulk-load client
	KindSelectInto                   // SELECT … INTO: creates and fills the target
	KindWriteText                    // WRITETEXT, UPDATETEXT
	KindReadText                     // READTEXT
	KindCreate                       // CREATE <type> (Statement.Type names the object type)
	KindAlter                        // ALTER <type>
	KindDrop                         // DROP <type>
	KindGrant                        // GRANT
	KindRevoke                       // REVOKE
	KindDeny                         // DENY
	KindExecuteAs                    // EXECUTE AS, SETUSER
	KindRevert                       // REVERT
	KindExec                         // EXEC of a procedure (also an RPC to a procedure)
	KindDynamicSQL                   // EXEC('…'), EXEC(@sql), sp_executesql inside a batch
	KindSet                          // SET of a variable or session option (Statement.Type names it)
	KindDeclare                      // DECLARE
	KindUse                          // USE database
	KindPrint                        // PRINT
	KindRaiserror                    // RAISERROR, THROW
	KindCursor                       // OPEN, FETCH, CLOSE, DEALLOCATE of a cursor
	KindBeginTran                    // BEGIN TRAN, TM begin
	KindCommit                       // COMMIT, TM commit
	KindRollback                     // ROLLBACK, TM rollback
	KindSaveTran                     // SAVE TRAN, TM save
	KindDistributedTran              // BEGIN DISTRIBUTED TRAN, TM promote/propagate/enlist/DTC address
	KindIf                           // IF (the condition's reads are listed as SELECT accesses)
	KindElse                         // ELSE
	KindWhile                        // WHILE
	KindBlock                        // BEGIN … END
	KindTry                          // BEGIN TRY … END TRY
	KindCatch                        // BEGIN CATCH … END CATCH
	KindReturn                       // RETURN
	KindBreak                        // BREAK, CONTINUE
	KindGoto                         // GOTO and labels
	KindWaitfor                      // WAITFOR DELAY/TIME
	KindDBCC                         // DBCC
	KindBackup                       // BACKUP
	KindRestore                      // RESTORE
	KindKill                         // KILL
	KindShutdown                     // SHUTDOWN
	KindReconfigure                  // RECONFIGURE
	KindCheckpoint                   // CHECKPOINT
	KindUpdateStatistics             // UPDATE STATISTICS
	KindOpenRowset                   // OPENROWSET, OPENDATASOURCE, OPENQUERY (ad hoc remote access)
	KindBroker                       // Service Broker: SEND, RECEIVE, BEGIN DIALOG, END/MOVE/GET CONVERSATION
	KindUnprepare                    // sp_unprepare and the harmless cursor procedures
	numKinds
)

var kindNames = [numKinds]string{
	KindUnknown: "unknown", KindSelect: "select", KindInsert: "insert", KindUpdate: "update",
	KindDelete: "delete", KindMerge: "merge", KindTruncate: "truncate",
	KindBulkInsert: "bulk_insert", KindSelectInto: "select_into", KindWriteText: "writetext",
	KindReadText: "readtext", KindCreate: "create", KindAlter: "alter", KindDrop: "drop",
	KindGrant: "grant", KindRevoke: "revoke", KindDeny: "deny", KindExecuteAs: "execute_as",
	KindRevert: "revert", KindExec: "exec", KindDynamicSQL: "dynamic_sql", KindSet: "set",
	KindDeclare: "declare", KindUse: "use", KindPrint: "print", KindRaiserror: "raiserror",
	KindCursor: "cursor", KindBeginTran: "begin_tran", KindCommit: "commit",
	KindRollback: "rollback", KindSaveTran: "save_tran", KindDistributedTran: "distributed_tran",
	KindIf: "if", KindElse: "else", KindWhile: "while", KindBlock: "block", KindTry: "try",
	KindCatch: "catch", KindReturn: "return", KindBreak: "break", KindGoto: "goto",
	KindWaitfor: "waitfor", KindDBCC: "dbcc", KindBackup: "backup", KindRestore: "restore",
	KindKill: "kill", KindShutdown: "shutdown", KindReconfigure: "reconfigure",
	KindCheckpoint: "checkpoint", KindUpdateStatistics: "update_statistics",
	KindOpenRowset: "openrowset", KindBroker: "broker", KindUnprepare: "unprepare",
}

// String returns the action name of the kind, as used in policy files.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Verb returns the kind in SQL Server's words for messages, e.g. "SELECT INTO".
func (k Kind) Verb() string {
	switch k {
	case KindSelectInto:
		return "SELECT INTO"
	case KindBulkInsert:
		return "BULK INSERT"
	case KindExecuteAs:
		return "EXECUTE AS"
	case KindDynamicSQL:
		return "EXECUTE dynamic SQL"
	case KindBeginTran:
		return "BEGIN TRANSACTION"
	case KindSaveTran:
		return "SAVE TRANSACTION"
	case KindDistributedTran:
		return "DISTRIBUTED TRANSACTION"
	case KindUpdateStatistics:
		return "UPDATE STATISTICS"
	case KindUnknown:
		return "run an unrecognised statement"
	}
	return strings.ToUpper(k.String())
}

// KindByName returns the kind with the given action name.
func KindByName(name string) (Kind, bool) {
	for k := Kind(0); k < numKinds; k++ {
		if kindNames[k] == name {
			return k, true
		}
	}
	return 0, false
}

// Groups are action names that stand for several kinds in policy rules.
var Groups = map[string][]Kind{
	"read":        {KindSelect, KindReadText},
	"write":       {KindInsert, KindUpdate, KindDelete, KindMerge, KindTruncate, KindBulkInsert, KindSelectInto, KindWriteText, KindBroker},
	"ddl":         {KindCreate, KindAlter, KindDrop},
	"exec":        {KindExec},
	"dynamic":     {KindDynamicSQL},
	"security":    {KindGrant, KindRevoke, KindDeny, KindExecuteAs, KindRevert},
	"session":     {KindSet, KindDeclare, KindUse, KindPrint, KindRaiserror, KindCursor, KindUnprepare},
	"control":     {KindIf, KindElse, KindWhile, KindBlock, KindTry, KindCatch, KindReturn, KindBreak, KindGoto},
	"transaction": {KindBeginTran, KindCommit, KindRollback, KindSaveTran, KindDistributedTran},
	"admin":       {KindWaitfor, KindDBCC, KindBackup, KindRestore, KindKill, KindShutdown, KindReconfigure, KindCheckpoint, KindUpdateStatistics, KindOpenRowset},
}

// allKnownKinds is the "all" group: every kind except unknown, which a rule
// must name explicitly.
func allKnownKinds() []Kind {
	ks := make([]Kind, 0, numKinds-1)
	for k := KindSelect; k < numKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// IsRead reports kinds that change nothing: reads, session state and control
// flow. Audit level "writes" records every request with a kind outside this set.
func (k Kind) IsRead() bool {
	switch k {
	case KindSelect, KindReadText, KindSet, KindDeclare, KindUse, KindPrint, KindRaiserror,
		KindCursor, KindUnprepare, KindIf, KindElse, KindWhile, KindBlock, KindTry, KindCatch,
		KindReturn, KindBreak, KindGoto:
		return true
	}
	return false
}
