package proxy

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/policy"
	"github.com/tdsproxy/tdsproxy/policy/audit"
	"github.com/tdsproxy/tdsproxy/tds"
)

// sessionEnforcer is one session's view of the enforcer: the identity its
// requests are decided for, its prepared handles, and what the response of
// the request in flight must teach it.
//
// check runs on the session's reader goroutine and observe on its request
// loop; they never run at once because the session's turn token hands each
// request from one to the other (see requestLoop).
type sessionEnforcer struct {
	e      *enforcer
	id     uint64
	client string // client address
	login  string
	app    string
	host   string

	prepared *policy.PreparedStatements // sp_prepare / sp_prepexec handles
	cursors  *policy.PreparedStatements // sp_cursorprepare / sp_cursorprepexec handles

	// bulkText is the INSERT BULK text of the previous request when that
	// request was allowed: the only thing a bulk load message may follow.
	bulkText string
	// pendingReset holds the RESETCONNECTION bits of denied requests: the
	// client believes the session was reset, so the next forwarded request
	// carries them to the backend.
	pendingReset tds.PacketStatus

	// The RPC calls of the request in flight, for RETURNVALUE handles.
	calls   []rpcCallInfo
	callIdx int

	// dec is the request being decided, decoded once: routing uses it too
	// (sessionRouting.requestInfo).
	dec decodedRequest

	// pending is the recorded, allowed request in flight whose result
	// record is due when its response ends (audit.go); nil: none.
	pending *pendingResult
	// auditBroken is set when a result record could not be written: every
	// later request of the session that needs a record is refused.
	auditBroken bool
}

// rpcCallInfo is what a response needs to know about one RPC call.
type rpcCallInfo struct {
	handles *policy.PreparedStatements // where its returned handle goes; nil: none
	c       *policy.Classification     // the classification of its text
	got     bool                       // its handle was recorded
}

// newSession returns the enforcement state of a logged-in session, or nil
// when the server neither enforces a policy nor audits (every request is
// then forwarded untouched).
func (e *enforcer) newSession(id uint64, client string, login *tds.Login7) *sessionEnforcer {
	if e == nil || (e.store == nil && e.audit == nil) {
		return nil
	}
	return &sessionEnforcer{
		e: e, id: id, client: client,
		login: login.UserName, app: login.AppName, host: login.HostName,
		prepared: policy.NewPreparedStatements(maxPreparedPerSession),
		cursors:  policy.NewPreparedStatements(maxPreparedPerSession),
	}
}

// resetBits are the packet status bits that reset a session.
const resetBits = tds.StatusResetConnection | tds.StatusResetConnectionSkipTran

// enforce decides a client request before it is forwarded. It returns nil
// when the request may go to the backend, or the complete response (ERROR
// and DONE) a refused client gets. It may add the reset bits of earlier
// refused requests to msg.Status.
func (se *sessionEnforcer) enforce(s *session, msg *tds.Message) []byte {
	if se == nil || msg.Type == tds.PacketAttention {
		return nil
	}
	if se.pending != nil {
		// Not reached: the session ends each request's result (requestLoop).
		se.endResult(audit.OutcomeUnknown)
	}
	start := time.Now()
	if msg.Status&resetBits != 0 {
		// sp_reset_connection frees the session's prepared handles.
		se.prepared.Reset()
		se.cursors.Reset()
	}
	se.calls, se.callIdx = se.calls[:0], 0
	st := s.state.Snapshot()
	req, c, unprepare := se.classify(msg, st.Database, s.tdsVersion)
	if s.rt == nil {
		se.dec.release() // else routing uses the decoding, then releases it
	}
	se.bulkText = "" // a bulk load may follow only the request just classified

	d := policy.Decision{Allowed: true, Audit: policy.AuditAll, Login: se.login, Statement: -1, Database: st.Database}
	if se.e.store != nil {
		d = se.e.store.Load().Decide(req, c)
	}
	se.e.metrics.decision(actionOf(&d, c), d.Allowed)

	var refusal []byte
	rpc := msg.Type == tds.PacketRPC
	if !d.Allowed {
		n, class, text := d.Error()
		refusal = denialResponse(wireError{Number: n, Class: class, State: 1, Message: text}, rpc, s.tdsVersion)
		s.log.Info("request denied by policy", zap.Stringer("request", req), zap.String("rule", d.RuleID),
			zap.String("rule_pos", d.Pos.String()), zap.Int32("error", n))
	}
	var ref uint64 // seq of an allowed request's record: its result record is due
	switch {
	case se.e.audit == nil || !d.MustAudit(c):
	case se.auditBroken && refusal == nil:
		// An earlier result record is missing: fail closed from then on.
		s.log.Warn("request refused: an earlier audit result record of this session could not be written")
		refusal = denialResponse(auditFailedError, rpc, s.tdsVersion)
	default:
		// Without routing the session has one backend, known now. With
		// routing the backend is chosen after this record is written, so
		// only the result record names it.
		backend := ""
		if s.rt == nil {
			backend = s.backendAddr()
		}
		seq, err := se.writeAudit(req, c, &d, backend, start)
		switch {
		case err != nil:
			s.log.Error("audit record could not be written", zap.Error(err), zap.Bool("allowed", d.Allowed))
			if refusal == nil {
				// Fail closed: a request whose record cannot be written does not run.
				refusal = denialResponse(auditFailedError, rpc, s.tdsVersion)
			}
		case d.Allowed:
			ref = seq
		}
	}
	if refusal != nil {
		se.pendingReset |= msg.Status & resetBits
		se.calls = se.calls[:0]
		return refusal
	}
	msg.Status |= se.pendingReset
	se.pendingReset = 0
	for _, u := range unprepare {
		u.from.Delete(u.handle)
	}
	if msg.Type == tds.PacketSQLBatch && isInsertBulk(c) {
		se.bulkText = req.Text
	}
	if ref != 0 {
		se.pending = &pendingResult{ref: ref, start: time.Now(), attnSent: s.attnPendingFunc(), backend: s.backendAddr}
	}
	return nil
}

// auditFailedError is what a client gets when its request needed an audit
// record that could not be written. 33204 is SQL Server's own "SQL Server
// Audit could not write to the security log" (fail-operation audits).
var auditFailedError = wireError{Number: 33204, Class: 16, State: 1,
	Message: "tdsproxy: the audit record of this request could not be written, so the request was not run (fail closed); see the proxy log"}

// denialResponse is the response to a refused request: the proxy's ERROR +
// DONE, whose DONE becomes a DONEPROC for an RPC (the token a call ends
// with, [MS-TDS] §2.2.7.7); both have the same layout.
func denialResponse(we wireError, rpc bool, tdsVersion uint32) []byte {
	b := appendErrorDone(nil, we, tdsVersion)
	if rpc {
		doneLen := len(tds.AppendDone(nil, tds.TokenDone, tds.Done{}, tdsVersion))
		b[len(b)-doneLen] = byte(tds.TokenDoneProc)
	}
	return b
}

// isInsertBulk reports a classification made only of bulk inserts: the
// INSERT BULK statement that announces a bulk load message.
func isInsertBulk(c *policy.Classification) bool {
	if c == nil || len(c.Statements) == 0 {
		return false
	}
	for i := range c.Statements {
		if c.Statements[i].Kind != policy.KindBulkInsert {
			return false
		}
	}
	return true
}

// unprepareOp is a handle an allowed sp_unprepare / sp_cursorunprepare frees.
type unprepareOp struct {
	from   *policy.PreparedStatements
	handle int32
}

// classify turns a client message into the policy request and its
// classification. A message that cannot be decoded is classified unknown
// (fail closed).
func (se *sessionEnforcer) classify(msg *tds.Message, database string, tdsVersion uint32) (policy.Request, *policy.Classification, []unprepareOp) {
	req := policy.Request{Login: se.login, AppName: se.app, Host: se.host, Database: database}
	var c *policy.Classification
	var unprepare []unprepareOp
	dec := &se.dec
	dec.decode(msg, tdsVersion)
	switch msg.Type {
	case tds.PacketSQLBatch:
		req.Kind = policy.RequestBatch
		if dec.ok {
			req.Text = dec.text
			c = dec.classify(se.e.cls)
		}
	case tds.PacketTransMgr:
		req.Kind = policy.RequestTM
		if dec.ok {
			req.TM = dec.tm
			c = dec.classify(se.e.cls)
		}
	case tds.PacketBulkLoad:
		req.Kind = policy.RequestBulkLoad
		req.Text = se.bulkText // "": not announced, classified unknown
		c = se.e.classifyOne(req)
	case tds.PacketRPC:
		req.Kind = policy.RequestRPC
		r := dec.rpc
		if !dec.ok || len(r.Calls) == 0 {
			break
		}
		cs := make([]*policy.Classification, len(r.Calls))
		var texts, names []string
		for i := range r.Calls {
			call := &r.Calls[i]
			creq := req
			creq.ProcName, creq.ProcID = call.ProcName, call.ProcID
			creq.Prepared, creq.PreparedCursors = se.prepared, se.cursors
			if text, ok := call.SQLText(); ok {
				creq.Text = text
				texts = append(texts, text)
			}
			proc := baseProcName(call)
			if h, ok := handleParam(call); ok {
				creq.Handle, creq.HasHandle = h, true
				switch proc {
				case "sp_unprepare":
					unprepare = append(unprepare, unprepareOp{se.prepared, h})
				case "sp_cursorunprepare":
					unprepare = append(unprepare, unprepareOp{se.cursors, h})
				}
			}
			cs[i] = se.e.classifyOne(creq)
			info := rpcCallInfo{c: cs[i]}
			switch proc {
			case "sp_prepare", "sp_prepexec":
				info.handles = se.prepared
			case "sp_cursorprepare", "sp_cursorprepexec":
				info.handles = se.cursors
			}
			se.calls = append(se.calls, info)
			names = append(names, call.ProcNameOrID())
		}
		c = policy.Merge(cs...)
		req.ProcName = strings.Join(names, ",")
		req.Text = strings.Join(texts, "\n")
	}
	if c == nil {
		c = undecodable(msg.Type)
	}
	return req, c, unprepare
}

// undecodable is the classification of a message the proxy cannot decode:
// unknown, so that only a role allowing unknown lets it through.
func undecodable(t tds.PacketType) *policy.Classification {
	reason := fmt.Sprintf("a %v message the proxy cannot decode", t)
	return &policy.Classification{Statements: []policy.Statement{{
		Kind:     policy.KindUnknown,
		Accesses: []policy.Access{{Action: policy.KindUnknown, Reason: reason}},
	}}}
}

// classifyOne classifies one request, through the cache when there is one.
// Its error is not needed: the classification is unknown then.
func (e *enforcer) classifyOne(req policy.Request) *policy.Classification {
	var c *policy.Classification
	if e.cls != nil {
		c, _ = e.cls.Classify(req)
	} else {
		c, _ = policy.Classify(req)
	}
	return c
}

// baseProcName is a call's procedure name, lower case, without schema,
// database or brackets ("sp_execute" for [sys].[sp_execute] or ProcID 12).
func baseProcName(call *tds.RPCCall) string {
	name := strings.ToLower(call.ProcNameOrID())
	name = name[strings.LastIndexByte(name, '.')+1:]
	return strings.Trim(name, "[]")
}

// handleParam returns the integer value of a call's first parameter (the
// @handle of sp_execute, sp_unprepare, sp_cursorexecute, …).
func handleParam(call *tds.RPCCall) (int32, bool) {
	if len(call.Params) == 0 {
		return 0, false
	}
	return int32Value(call.Params[0].Value)
}

func int32Value(v any) (int32, bool) {
	switch n := v.(type) {
	case int64:
		if n >= -1<<31 && n < 1<<31 {
			return int32(n), true
		}
	case int32:
		return n, true
	}
	return 0, false
}

// observe follows the response of a forwarded request: the handle an
// sp_prepare, sp_prepexec, sp_cursorprepare or sp_cursorprepexec call
// returns (its first RETURNVALUE) is remembered with the classification of
// the call's text, so that sp_execute by handle is decided like the text;
// and rows, errors and the response's end go to the request's result
// record (observeResult).
func (se *sessionEnforcer) observe(ev *tds.Event) {
	if se == nil {
		return
	}
	se.observeResult(ev)
	if len(se.calls) == 0 {
		return
	}
	switch ev.Type {
	case tds.TokenDoneProc:
		se.callIdx++
	case tds.TokenReturnValue:
		if se.callIdx >= len(se.calls) {
			return
		}
		call := &se.calls[se.callIdx]
		if call.handles == nil || call.got {
			return
		}
		h, ok := int32Value(ev.ReturnValue.Value)
		if !ok {
			return
		}
		call.got = true
		if err := call.handles.Put(h, call.c); err != nil {
			se.e.log.Warn("prepared handle not remembered; executing it will be denied",
				zap.Uint64("session", se.id), zap.Error(err))
		}
	}
}
