package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tdsproxy/tdsproxy/cache"
)

// RequestKind is the TDS message a request came in.
type RequestKind uint8

// Request kinds.
const (
	RequestBatch    RequestKind = iota + 1 // SQLBatch (MS-TDS 2.2.6.7)
	RequestRPC                             // RPC (MS-TDS 2.2.6.6)
	RequestTM                              // Transaction Manager request (MS-TDS 2.2.6.9)
	RequestBulkLoad                        // Bulk load data (MS-TDS 2.2.6.1)
)

// String names the request kind.
func (k RequestKind) String() string {
	switch k {
	case RequestBatch:
		return "batch"
	case RequestRPC:
		return "rpc"
	case RequestTM:
		return "tm"
	case RequestBulkLoad:
		return "bulkload"
	}
	return fmt.Sprintf("RequestKind(%d)", uint8(k))
}

// TMKind is the request type of a Transaction Manager request; the values
// are those on the wire (MS-TDS 2.2.6.9), so tds.TMType converts directly.
type TMKind uint16

// TM request types.
const (
	TMGetDTCAddress TMKind = 0
	TMPropagate     TMKind = 1
	TMBegin         TMKind = 5
	TMPromote       TMKind = 6
	TMCommit        TMKind = 7
	TMRollback      TMKind = 8
	TMSave          TMKind = 9
)

// Well-known RPC procedure ids (MS-TDS 2.2.6.6, ProcIDSwitch).
const (
	ProcCursor          uint16 = 1
	ProcCursorOpen      uint16 = 2
	ProcCursorPrepare   uint16 = 3
	ProcCursorExecute   uint16 = 4
	ProcCursorPrepExec  uint16 = 5
	ProcCursorUnprepare uint16 = 6
	ProcCursorFetch     uint16 = 7
	ProcCursorOption    uint16 = 8
	ProcCursorClose     uint16 = 9
	ProcExecuteSQL      uint16 = 10
	ProcPrepare         uint16 = 11
	ProcExecute         uint16 = 12
	ProcPrepExec        uint16 = 13
	ProcPrepExecRPC     uint16 = 14
	ProcUnprepare       uint16 = 15
)

var procNames = map[string]uint16{
	"sp_cursor": ProcCursor, "sp_cursoropen": ProcCursorOpen, "sp_cursorprepare": ProcCursorPrepare,
	"sp_cursorexecute": ProcCursorExecute, "sp_cursorprepexec": ProcCursorPrepExec,
	"sp_cursorunprepare": ProcCursorUnprepare, "sp_cursorfetch": ProcCursorFetch,
	"sp_cursoroption": ProcCursorOption, "sp_cursorclose": ProcCursorClose,
	"sp_executesql": ProcExecuteSQL, "sp_prepare": ProcPrepare, "sp_execute": ProcExecute,
	"sp_prepexec": ProcPrepExec, "sp_prepexecrpc": ProcPrepExecRPC, "sp_unprepare": ProcUnprepare,
}

// Request is one client request in neutral form: the proxy fills it from a
// decoded TDS message and the session's identity.
type Request struct {
	Kind RequestKind
	// Text is the SQL: the batch text (Batch); the statement parameter of
	// sp_executesql, sp_prepare, sp_prepexec, sp_cursoropen, sp_cursorprepare
	// or sp_cursorprepexec (RPC); the INSERT BULK statement that announced the
	// load (BulkLoad).
	Text string
	// ProcName is the RPC's procedure name as sent; empty when ProcID is used.
	ProcName string
	// ProcID is the RPC's well-known procedure id when ProcName is empty.
	ProcID uint16
	// Handle is the prepared handle of sp_execute / sp_cursorexecute.
	Handle    int32
	HasHandle bool
	// Prepared holds the session's sp_prepare/sp_prepexec handles;
	// PreparedCursors those of sp_cursorprepare/sp_cursorprepexec.
	Prepared        *PreparedStatements
	PreparedCursors *PreparedStatements
	// TM is the Transaction Manager request type (Kind TM).
	TM TMKind
	// BulkTable names the bulk-load target when Text is empty (Kind BulkLoad).
	BulkTable string

	// Identity and context of the session, used by decisions.
	Login         string
	AppName       string
	Host          string
	Database      string // current database; unqualified names resolve here
	DefaultSchema string // overrides the policy's default schema for the login
}

// procID returns the well-known id of the RPC's procedure, or 0.
func (r *Request) procID() uint16 {
	if r.ProcName == "" {
		return r.ProcID
	}
	o, ok := parseObjectName(r.ProcName)
	if !ok || o.Server != "" {
		return 0
	}
	if o.Schema != "" && !strings.EqualFold(o.Schema, "sys") && !strings.EqualFold(o.Schema, "dbo") {
		return 0
	}
	return procNames[strings.ToLower(o.Name)]
}

// parseObjectName parses a dotted, possibly bracketed name with the lexer.
func parseObjectName(s string) (Object, bool) {
	p := newParser(s, 0)
	defer p.release()
	o, st := p.name()
	if st != nameOK || !p.atEnd() {
		return Object{}, false
	}
	return o, true
}

// ErrBadRequest is wrapped by errors for requests that lack what their kind
// needs. The classification returned with it is unknown (fail closed).
var ErrBadRequest = errors.New("policy: bad request")

// ClassifyText classifies a SQL batch.
func ClassifyText(text string) *Classification {
	p := newParser(text, 0)
	defer p.release()
	// One allocation holds the result and its first statement.
	r := new(classificationBuf)
	p.out = r.first[:0]
	p.run()
	if len(p.out) > 0 {
		r.c.Statements = p.out
	}
	return &r.c
}

// classificationBuf is a Classification with room for one statement.
type classificationBuf struct {
	c     Classification
	first [1]Statement
}

// Classify classifies a request without a cache. It always returns a
// classification; on error it is unknown, so a caller that ignores the error
// still fails closed.
func Classify(req Request) (*Classification, error) {
	return classify(req, ClassifyText)
}

func classify(req Request, text func(string) *Classification) (*Classification, error) {
	switch req.Kind {
	case RequestBatch:
		return text(req.Text), nil
	case RequestTM:
		return tmClassification(req.TM), nil
	case RequestBulkLoad:
		if req.Text != "" {
			c := text(req.Text)
			for _, s := range c.Statements {
				if s.Kind != KindBulkInsert {
					return unknownClassification("bulk load announced by a statement other than INSERT BULK"), nil
				}
			}
			return c, nil
		}
		if req.BulkTable == "" {
			return unknownClassification("bulk load without a target table"),
				fmt.Errorf("%w: bulk load without INSERT BULK text or table", ErrBadRequest)
		}
		o, ok := parseObjectName(req.BulkTable)
		if !ok {
			return unknownClassification("bulk load target the classifier does not understand"), nil
		}
		return single(KindBulkInsert, "", &o), nil
	case RequestRPC:
		return classifyRPC(req, text)
	}
	return unknownClassification("unknown request kind"), fmt.Errorf("%w: kind %v", ErrBadRequest, req.Kind)
}

func single(k Kind, typ string, o *Object) *Classification {
	st := Statement{Kind: k, Type: typ, Accesses: []Access{{Action: k, Object: o}}}
	if k == KindExec {
		st.Proc = o
	}
	return &Classification{Statements: []Statement{st}}
}

func tmClassification(t TMKind) *Classification {
	switch t {
	case TMBegin:
		return single(KindBeginTran, "tm", nil)
	case TMCommit:
		return single(KindCommit, "tm", nil)
	case TMRollback:
		return single(KindRollback, "tm", nil)
	case TMSave:
		return single(KindSaveTran, "tm", nil)
	case TMPromote, TMPropagate, TMGetDTCAddress:
		return single(KindDistributedTran, "tm", nil)
	}
	return unknownClassification(fmt.Sprintf("transaction manager request type %d", t))
}

func classifyRPC(req Request, text func(string) *Classification) (*Classification, error) {
	id := req.procID()
	switch id {
	case ProcExecuteSQL, ProcPrepare, ProcPrepExec, ProcCursorOpen, ProcCursorPrepare, ProcCursorPrepExec:
		if strings.TrimSpace(req.Text) == "" {
			return unknownClassification("RPC without statement text"),
				fmt.Errorf("%w: RPC %d without statement text", ErrBadRequest, id)
		}
		return text(req.Text), nil
	case ProcExecute, ProcCursorExecute:
		ps := req.Prepared
		if id == ProcCursorExecute {
			ps = req.PreparedCursors
		}
		if !req.HasHandle {
			return unknownClassification("execute of a prepared statement without a handle"),
				fmt.Errorf("%w: sp_execute without a handle", ErrBadRequest)
		}
		if c, ok := ps.Get(req.Handle); ok {
			return c, nil
		}
		return unknownClassification(fmt.Sprintf("prepared handle %d is not known", req.Handle)), nil
	case ProcCursor:
		return unknownClassification("positioned change through sp_cursor"), nil
	case ProcPrepExecRPC:
		return unknownClassification("sp_prepexecrpc"), nil
	case ProcUnprepare, ProcCursorUnprepare, ProcCursorFetch, ProcCursorOption, ProcCursorClose:
		return single(KindUnprepare, "", nil), nil
	}
	if req.ProcName == "" {
		return unknownClassification(fmt.Sprintf("RPC to unknown procedure id %d", req.ProcID)),
			fmt.Errorf("%w: RPC without a procedure name and unknown ProcID %d", ErrBadRequest, req.ProcID)
	}
	o, ok := parseObjectName(req.ProcName)
	if !ok {
		return unknownClassification("RPC procedure name the classifier does not understand"), nil
	}
	return single(KindExec, "", &o), nil
}

// PreparedStatements maps a session's prepared handles to the classification
// of the prepared text. The proxy adds an entry when the response to
// sp_prepare/sp_prepexec returns the handle (RETURNVALUE), removes it on
// sp_unprepare and clears it on a connection reset. Safe for concurrent use;
// a nil *PreparedStatements is empty.
type PreparedStatements struct {
	mu  sync.Mutex
	m   map[int32]*Classification
	max int
}

// ErrTooManyPrepared is returned by Put when the session holds max handles.
var ErrTooManyPrepared = errors.New("policy: too many prepared statements in session")

// NewPreparedStatements returns an empty map holding at most max handles
// (max <= 0: 4096).
func NewPreparedStatements(max int) *PreparedStatements {
	if max <= 0 {
		max = 4096
	}
	return &PreparedStatements{m: make(map[int32]*Classification), max: max}
}

// Put records the classification of handle.
func (ps *PreparedStatements) Put(handle int32, c *Classification) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.m[handle]; !ok && len(ps.m) >= ps.max {
		return fmt.Errorf("%w (%d)", ErrTooManyPrepared, ps.max)
	}
	ps.m[handle] = c
	return nil
}

// Get returns the classification of handle.
func (ps *PreparedStatements) Get(handle int32) (*Classification, bool) {
	if ps == nil {
		return nil, false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	c, ok := ps.m[handle]
	return c, ok
}

// Delete forgets handle (sp_unprepare).
func (ps *PreparedStatements) Delete(handle int32) {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.m, handle)
}

// Reset forgets every handle (connection reset, logout).
func (ps *PreparedStatements) Reset() {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	clear(ps.m)
}

// Len returns the number of handles held.
func (ps *PreparedStatements) Len() int {
	if ps == nil {
		return 0
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.m)
}

// maxCachedText is the longest text kept in the classification cache.
const maxCachedText = 16 << 10

// Classifier classifies requests with a size-bounded cache of
// classifications by statement text. Safe for concurrent use.
type Classifier struct {
	cache *cache.LRU[string, *Classification]
}

// NewClassifier returns a classifier caching up to size texts.
func NewClassifier(size int) (*Classifier, error) {
	c, err := cache.New[string, *Classification](size)
	if err != nil {
		return nil, fmt.Errorf("policy: classification cache: %w", err)
	}
	return &Classifier{cache: c}, nil
}

// Classify is Classify with the cache. The returned classification is shared.
func (c *Classifier) Classify(req Request) (*Classification, error) {
	return classify(req, c.text)
}

func (c *Classifier) text(s string) *Classification {
	if len(s) > maxCachedText {
		return ClassifyText(s)
	}
	if v, ok := c.cache.Get(s); ok {
		return v
	}
	v := ClassifyText(s)
	c.cache.Add(s, v)
	return v
}

// CacheStats returns the cache's counters for metrics
// (tdsproxy_cache_classification_*).
func (c *Classifier) CacheStats() cache.Stats { return c.cache.Stats() }

// String describes the request for logs with literals redacted and secrets
// hidden, so a password in the SQL text never reaches a log line.
func (r Request) String() string {
	s := fmt.Sprintf("%v request by %q in %q", r.Kind, r.Login, r.Database)
	if r.ProcName != "" {
		s += fmt.Sprintf(" proc %q", r.ProcName)
	} else if r.Kind == RequestRPC {
		s += fmt.Sprintf(" procid %d", r.ProcID)
	}
	if r.Text != "" {
		s += ": " + Redact(r.Text)
	}
	return s
}

// GoString is String, so %#v does not print the text either.
func (r Request) GoString() string { return r.String() }
