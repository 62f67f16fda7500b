package policy

// kw identifies a keyword the classifier cares about. Words not in the table
// are kwNone (plain identifiers).
type kw uint8

const (
	kwNone kw = iota
	// statement starters
	kwSelect
	kwInsert
	kwUpdate
	kwDelete
	kwMerge
	kwTruncate
	kwBulk
	kwCreate
	kwAlter
	kwDrop
	kwGrant
	kwRevoke
	kwDeny
	kwExec
	kwExecute
	kwSet
	kwUse
	kwBegin
	kwCommit
	kwRollback
	kwSave
	kwDeclare
	kwIf
	kwElse
	kwWhile
	kwEnd
	kwReturn
	kwBreak
	kwContinue
	kwGoto
	kwWaitfor
	kwDbcc
	kwBackup
	kwRestore
	kwKill
	kwShutdown
	kwReconfigure
	kwCheckpoint
	kwPrint
	kwRaiserror
	kwOpen
	kwFetch
	kwClose
	kwDeallocate
	kwRevert
	kwReadtext
	kwWritetext
	kwUpdatetext
	kwSetuser
	kwWith
	kwThrow
	kwEnable
	kwDisable
	kwSend
	kwReceive
	kwGet
	kwMove
	// other keywords
	kwFrom
	kwJoin
	kwApply
	kwInto
	kwOn
	kwAs
	kwTable
	kwView
	kwProc
	kwProcedure
	kwFunction
	kwTrigger
	kwIndex
	kwUnion
	kwExcept
	kwIntersect
	kwAll
	kwCase
	kwWhen
	kwThen
	kwValues
	kwDefault
	kwTop
	kwFor
	kwCursor
	kwTran
	kwTransaction
	kwDistributed
	kwWhere
	kwGroup
	kwHaving
	kwOrder
	kwOption
	kwTo
	kwOf
	kwCross
	kwOuter
	kwInner
	kwLeft
	kwRight
	kwFull
	kwNot
	kwExists
	kwStatistics
	kwOr
	kwAnd
	kwIs
	kwNull
	kwIn
	kwDatabase
	kwSchema
	kwUser
	kwPivot
	kwUnpivot
	kwTablesample
	kwOpenrowset
	kwOpendatasource
	kwOpenquery
	kwOpenxml
	kwContainstable
	kwFreetexttable
	kwColumn
	kwConstraint
	kwCollate
	kwIdentityInsert
	kwUsing
	kwOutput
	kwTry
	kwCatch
	kwDialog
	kwConversation
	kwTies
	kwRollup
	kwCube
	kwXmlnamespaces
	kwAt
	kwLogin
	kwNext
	kwValue
	kwMatched
	kwWork
	kwPassword
	kwSecret
	kwWindow
	kwChangetable
	kwAtomic
	kwSymmetric
	kwMaster
	kwCertificate
	kwAsymmetric
	kwCredential
	kwPeriod
	numKw
)

// lastStarter is the last keyword that can start a statement.
const lastStarter = kwMove

// kwInfo describes a keyword: its spelling and whether it is reserved (a
// reserved word is never a name unless quoted).
type kwInfo struct {
	name     string
	reserved bool
}

var kwInfos = [numKw]kwInfo{
	kwSelect: {"SELECT", true}, kwInsert: {"INSERT", true}, kwUpdate: {"UPDATE", true},
	kwDelete: {"DELETE", true}, kwMerge: {"MERGE", true}, kwTruncate: {"TRUNCATE", true},
	kwBulk: {"BULK", true}, kwCreate: {"CREATE", true}, kwAlter: {"ALTER", true},
	kwDrop: {"DROP", true}, kwGrant: {"GRANT", true}, kwRevoke: {"REVOKE", true},
	kwDeny: {"DENY", true}, kwExec: {"EXEC", true}, kwExecute: {"EXECUTE", true},
	kwSet: {"SET", true}, kwUse: {"USE", true}, kwBegin: {"BEGIN", true},
	kwCommit: {"COMMIT", true}, kwRollback: {"ROLLBACK", true}, kwSave: {"SAVE", true},
	kwDeclare: {"DECLARE", true}, kwIf: {"IF", true}, kwElse: {"ELSE", true},
	kwWhile: {"WHILE", true}, kwEnd: {"END", true}, kwReturn: {"RETURN", true},
	kwBreak: {"BREAK", true}, kwContinue: {"CONTINUE", true}, kwGoto: {"GOTO", true},
	kwWaitfor: {"WAITFOR", true}, kwDbcc: {"DBCC", true}, kwBackup: {"BACKUP", true},
	kwRestore: {"RESTORE", true}, kwKill: {"KILL", true}, kwShutdown: {"SHUTDOWN", true},
	kwReconfigure: {"RECONFIGURE", true}, kwCheckpoint: {"CHECKPOINT", true},
	kwPrint: {"PRINT", true}, kwRaiserror: {"RAISERROR", true}, kwOpen: {"OPEN", true},
	kwFetch: {"FETCH", true}, kwClose: {"CLOSE", true}, kwDeallocate: {"DEALLOCATE", true},
	kwRevert: {"REVERT", true}, kwReadtext: {"READTEXT", true}, kwWritetext: {"WRITETEXT", true},
	kwUpdatetext: {"UPDATETEXT", true}, kwSetuser: {"SETUSER", true}, kwWith: {"WITH", true},
	kwThrow: {"THROW", false}, kwEnable: {"ENABLE", false}, kwDisable: {"DISABLE", false},
	kwSend: {"SEND", false}, kwReceive: {"RECEIVE", false}, kwGet: {"GET", false},
	kwMove: {"MOVE", false},
	kwFrom: {"FROM", true}, kwJoin: {"JOIN", true}, kwApply: {"APPLY", false},
	kwInto: {"INTO", true}, kwOn: {"ON", true}, kwAs: {"AS", true}, kwTable: {"TABLE", true},
	kwView: {"VIEW", true}, kwProc: {"PROC", true}, kwProcedure: {"PROCEDURE", true},
	kwFunction: {"FUNCTION", true}, kwTrigger: {"TRIGGER", true}, kwIndex: {"INDEX", true},
	kwUnion: {"UNION", true}, kwExcept: {"EXCEPT", true}, kwIntersect: {"INTERSECT", true},
	kwAll: {"ALL", true}, kwCase: {"CASE", true}, kwWhen: {"WHEN", true}, kwThen: {"THEN", true},
	kwValues: {"VALUES", true}, kwDefault: {"DEFAULT", true}, kwTop: {"TOP", true},
	kwFor: {"FOR", true}, kwCursor: {"CURSOR", true}, kwTran: {"TRAN", true},
	kwTransaction: {"TRANSACTION", true}, kwDistributed: {"DISTRIBUTED", true},
	kwWhere: {"WHERE", true}, kwGroup: {"GROUP", true}, kwHaving: {"HAVING", true},
	kwOrder: {"ORDER", true}, kwOption: {"OPTION", true}, kwTo: {"TO", true}, kwOf: {"OF", true},
	kwCross: {"CROSS", true}, kwOuter: {"OUTER", true}, kwInner: {"INNER", true},
	kwLeft: {"LEFT", true}, kwRight: {"RIGHT", true}, kwFull: {"FULL", true},
	kwNot: {"NOT", true}, kwExists: {"EXISTS", true}, kwStatistics: {"STATISTICS", true},
	kwOr: {"OR", true}, kwAnd: {"AND", true}, kwIs: {"IS", true}, kwNull: {"NULL", true},
	kwIn: {"IN", true}, kwDatabase: {"DATABASE", true}, kwSchema: {"SCHEMA", true},
	kwUser: {"USER", true}, kwPivot: {"PIVOT", true}, kwUnpivot: {"UNPIVOT", true},
	kwTablesample: {"TABLESAMPLE", true}, kwOpenrowset: {"OPENROWSET", true},
	kwOpendatasource: {"OPENDATASOURCE", true}, kwOpenquery: {"OPENQUERY", true},
	kwOpenxml: {"OPENXML", true}, kwContainstable: {"CONTAINSTABLE", true},
	kwFreetexttable: {"FREETEXTTABLE", true}, kwColumn: {"COLUMN", true},
	kwConstraint: {"CONSTRAINT", true}, kwCollate: {"COLLATE", true},
	kwIdentityInsert: {"IDENTITY_INSERT", true}, kwUsing: {"USING", false},
	kwOutput: {"OUTPUT", false}, kwTry: {"TRY", false}, kwCatch: {"CATCH", false},
	kwDialog: {"DIALOG", false}, kwConversation: {"CONVERSATION", false},
	kwTies: {"TIES", false}, kwRollup: {"ROLLUP", false}, kwCube: {"CUBE", false},
	kwXmlnamespaces: {"XMLNAMESPACES", false}, kwAt: {"AT", false}, kwLogin: {"LOGIN", false},
	kwNext: {"NEXT", false}, kwValue: {"VALUE", false}, kwMatched: {"MATCHED", false},
	kwWork: {"WORK", false}, kwPassword: {"PASSWORD", false}, kwSecret: {"SECRET", false},
	kwWindow: {"WINDOW", false}, kwChangetable: {"CHANGETABLE", false},
	kwAtomic: {"ATOMIC", false}, kwSymmetric: {"SYMMETRIC", false}, kwMaster: {"MASTER", false},
	kwCertificate: {"CERTIFICATE", false}, kwAsymmetric: {"ASYMMETRIC", false},
	kwCredential: {"CREDENTIAL", false}, kwPeriod: {"PERIOD", false},
}

// kwHash is an open-addressing table of keywords keyed by kwHashOf; it
// avoids a map lookup per word.
var kwHash = func() (t [kwHashSize]kw) {
	for k := kw(1); k < numKw; k++ {
		h := kwHashOf(kwInfos[k].name)
		for t[h] != kwNone {
			h = (h + 1) & (kwHashSize - 1)
		}
		t[h] = k
	}
	return t
}()

const kwHashSize = 1024

const maxKwLen = 16

// kwHashOf hashes a word case-insensitively (ASCII) from its length and
// its first, second and last bytes; collisions are resolved by probing.
func kwHashOf(word string) uint32 {
	n := len(word)
	h := uint32(n)*0x9E3779B1 ^ uint32(word[0]|0x20)*0x85EBCA6B ^
		uint32(word[1]|0x20)*0xC2B2AE35 ^ uint32(word[n-1]|0x20)*0x27D4EB2F
	return (h >> 16) & (kwHashSize - 1)
}

// lookupKw returns the keyword spelled by word (ASCII, any case).
func lookupKw(word string) kw {
	if len(word) > maxKwLen || len(word) < 2 {
		return kwNone
	}
	h := kwHashOf(word)
	for {
		k := kwHash[h]
		if k == kwNone {
			return kwNone
		}
		if equalFoldASCII(kwInfos[k].name, word) {
			return k
		}
		h = (h + 1) & (kwHashSize - 1)
	}
}

// equalFoldASCII compares an upper-case keyword with a word of any case.
func equalFoldASCII(upper, word string) bool {
	if len(upper) != len(word) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if upperASCII[word[i]] != upper[i] {
			return false
		}
	}
	return true
}

// upperASCII maps a-z to A-Z and every other byte to itself.
var upperASCII = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = byte(c - 'a' + 'A')
	}
	return t
}()

func (k kw) reserved() bool { return kwInfos[k].reserved }
