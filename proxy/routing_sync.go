package proxy

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
)

// The batches the proxy itself runs on a routed session's backend
// connections: the state replay and the @@TRANCOUNT question. Their
// responses are consumed here and never reach the client.

// replayError is a replay batch the backend answered with an error.
type replayError struct{ number int32 }

func (e *replayError) Error() string { return fmt.Sprintf("replay answered with error %d", e.number) }

// sync gives c the session's state (USE, SET) before it serves a request,
// and resets it first if the client reset the session on another
// connection. The replay's response is consumed, not relayed.
func (sr *sessionRouting) sync(s *session, c *routedConn, msg *tds.Message) error {
	sr.catchUp(c) // resets the client made since c was last used
	// A request that resets the session needs no replay: it is reset by
	// its own RESETCONNECTION.
	if msg.Status&resetBits != 0 && c.needReset {
		c.needReset, c.synced = false, 0
	}
	batch, v := sr.state.Replay(c.synced)
	if msg.Status&resetBits != 0 {
		batch = "" // the request resets the connection; its state is the login state afterwards
		v = c.synced
	}
	var status tds.PacketStatus
	if c.needReset {
		status = tds.StatusResetConnection
		if batch == "" {
			batch = "SELECT 1"
		}
	}
	if batch == "" {
		return nil
	}
	toks, err := sr.runBatch(s, c, batch, status)
	if err != nil {
		return err
	}
	c.needReset = false
	c.synced = v
	if toks == nil {
		return &replayError{}
	}
	for _, tk := range toks {
		if tk.Type == tds.TokenError {
			return &replayError{number: tk.Err.Number}
		}
	}
	return nil
}

// runBatch runs a batch of the proxy's own on c and returns its decoded
// response (nil tokens when it cannot be decoded), which the client never
// sees. The error is an I/O error.
func (sr *sessionRouting) runBatch(s *session, c *routedConn, text string, status tds.PacketStatus) ([]tds.Token, error) {
	b := tds.SQLBatch{Text: text}
	if s.tdsVersion >= tds.VerTDS72 {
		b.Headers, b.HasHeaders = tds.AutocommitHeaders(), true
	}
	if err := c.be.send(tds.PacketSQLBatch, status, b.Append(nil)); err != nil {
		return nil, err
	}
	resp, err := readReply(c.be.r)
	if err != nil {
		return nil, fmt.Errorf("reading the response to the proxy's batch from %s: %w", c.name, err)
	}
	toks, err := tds.DecodeTokens(resp, s.tdsVersion)
	if err != nil {
		return nil, nil
	}
	return toks, nil
}

// settleUnknownTx asks the connection that ran the last request whether a
// transaction is open (SELECT @@TRANCOUNT) when the tracker could not tell
// (DESIGN.md decision 8): the state was "none" before that request, so
// only its connection may hold one. Without an answer the state stays
// unknown, which routes to the primary.
func (sr *sessionRouting) settleUnknownTx(s *session) {
	c := sr.last
	if c == nil {
		return
	}
	sr.mu.Lock()
	live := sr.conns[c.name] == c
	sr.mu.Unlock()
	if !live {
		return
	}
	toks, err := sr.runBatch(s, c, "SELECT @@TRANCOUNT", 0)
	if err != nil {
		s.log.Info("asking a backend for its transaction count failed", zap.String("backend", c.name), zap.Error(err))
		sr.drop(c)
		return
	}
	for _, tk := range toks {
		if tk.Type != tds.TokenRow || len(tk.Row) != 1 {
			continue
		}
		n, ok := tk.Row[0].(int64)
		if !ok {
			return
		}
		s.state.settleTx(n > 0)
		if n > 0 {
			sr.holder = c.name
		}
		return
	}
}

// settleTx replaces an unknown transaction state with what the backend
// answered to SELECT @@TRANCOUNT.
func (t *stateTracker) settleTx(open bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.s.Tx != TxUnknown {
		return
	}
	t.s.Tx = TxNone
	if open {
		t.s.Tx = TxOpen
	}
}

// readReply reads one whole reply message.
func readReply(r *tds.PacketReader) ([]byte, error) {
	var data []byte
	for {
		h, p, err := r.ReadPacket()
		if err != nil {
			return nil, err
		}
		if h.Type != tds.PacketReply {
			return nil, fmt.Errorf("unexpected %v packet", h.Type)
		}
		if len(data)+len(p) > maxLoginResponse {
			return nil, fmt.Errorf("response larger than %d bytes", maxLoginResponse)
		}
		data = append(data, p...)
		if h.Status&tds.StatusEOM != 0 {
			return data, nil
		}
	}
}
