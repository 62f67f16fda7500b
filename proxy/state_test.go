package proxy

import (
	"encoding/binary"
	"testing"
)

// bvar builds an ENVCHANGE B_VARCHAR value: length in characters, UCS-2.
func bvar(s string) []byte {
	b := []byte{byte(len(s))}
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// desc builds an ENVCHANGE B_VARBYTE transaction descriptor.
func desc(d uint64) []byte {
	b := []byte{8, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint64(b[1:], d)
	return b
}

// stateStep is one input to the tracker.
type stateStep struct {
	req     bool // a request: status, descriptor
	status  uint8
	desc    uint64
	hasDesc bool

	env      uint8 // an ENVCHANGE
	newV     []byte
	oldV     []byte
	doneStat uint16 // a DONE (when env == 0 and !req)
}

func TestStateTracker(t *testing.T) {
	t.Parallel()
	login := []stateStep{{env: envDatabase, newV: bvar("master"), oldV: bvar("")},
		{env: envLanguage, newV: bvar("us_english")}}
	tests := []struct {
		name      string
		steps     []stateStep
		wantTx    TxState
		wantDesc  uint64
		wantDB    string
		wantReset int
	}{
		{
			name:   "autocommit after login",
			steps:  nil,
			wantTx: TxNone, wantDB: "master",
		},
		{
			name: "USE changes the database",
			steps: []stateStep{{req: true, hasDesc: true},
				{env: envDatabase, newV: bvar("sales"), oldV: bvar("master")}, {doneStat: 0}},
			wantTx: TxNone, wantDB: "sales",
		},
		{
			name: "BEGIN TRAN opens with its descriptor",
			steps: []stateStep{{req: true, hasDesc: true},
				{env: envBeginTran, newV: desc(0x5A00000001), oldV: []byte{0}}},
			wantTx: TxOpen, wantDesc: 0x5A00000001, wantDB: "master",
		},
		{
			name: "COMMIT closes",
			steps: []stateStep{{env: envBeginTran, newV: desc(7)},
				{req: true, hasDesc: true, desc: 7}, {env: envCommitTran, newV: []byte{0}, oldV: desc(7)}},
			wantTx: TxNone, wantDB: "master",
		},
		{
			name: "ROLLBACK closes",
			steps: []stateStep{{env: envBeginTran, newV: desc(7)},
				{env: envRollbackTran, newV: []byte{0}, oldV: desc(7)}},
			wantTx: TxNone, wantDB: "master",
		},
		{
			name: "transaction ended (17) closes",
			steps: []stateStep{{env: envBeginTran, newV: desc(7)},
				{env: envTranEnded, newV: []byte{0}, oldV: desc(7)}},
			wantTx: TxNone, wantDB: "master",
		},
		{
			name:   "DTC enlist opens",
			steps:  []stateStep{{env: envEnlistDTC, newV: []byte{0}}},
			wantTx: TxOpen, wantDB: "master",
		},
		{
			name: "a client descriptor without a begin ENVCHANGE is unknown, never none",
			steps: []stateStep{{req: true, hasDesc: true, desc: 0x1234},
				{doneStat: 0}},
			wantTx: TxUnknown, wantDB: "master",
		},
		{
			name:   "DONE_INXACT from a server that sets it is not none",
			steps:  []stateStep{{req: true, hasDesc: true}, {doneStat: doneInxact}},
			wantTx: TxUnknown, wantDB: "master",
		},
		{
			name: "a server that sets DONE_INXACT settles unknown with a final DONE without it",
			steps: []stateStep{{req: true, hasDesc: true, desc: 3}, {doneStat: doneInxact},
				{req: true, hasDesc: true}, {doneStat: doneMore}, {doneStat: 0}},
			wantTx: TxNone, wantDB: "master",
		},
		{
			name:   "DONE_MORE without INXACT does not settle",
			steps:  []stateStep{{doneStat: doneInxact}, {doneStat: doneMore}},
			wantTx: TxUnknown, wantDB: "master",
		},
		{
			name: "RESETCONNECTION rolls back and returns to the login database",
			steps: []stateStep{{env: envDatabase, newV: bvar("sales")}, {env: envBeginTran, newV: desc(9)},
				{req: true, status: statusResetConn | 0x01, hasDesc: true, desc: 9},
				{env: envResetAck, newV: []byte{0}, oldV: []byte{0}}},
			wantTx: TxNone, wantDB: "master", wantReset: 1,
		},
		{
			name: "RESETCONNECTIONSKIPTRAN keeps the transaction",
			steps: []stateStep{{env: envBeginTran, newV: desc(9)},
				{req: true, status: statusResetConnSkipTran | 0x01, hasDesc: true, desc: 9},
				{env: envResetAck, newV: []byte{0}, oldV: []byte{0}}},
			wantTx: TxOpen, wantDesc: 9, wantDB: "master", wantReset: 1,
		},
		{
			name: "a commit after an unknown state settles it",
			steps: []stateStep{{req: true, hasDesc: true, desc: 3}, {doneStat: 0},
				{req: true, hasDesc: true, desc: 3}, {env: envCommitTran, newV: []byte{0}, oldV: desc(3)}},
			wantTx: TxNone, wantDB: "master",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tr stateTracker
			for _, st := range login {
				if err := tr.envChange(st.env, st.newV, st.oldV); err != nil {
					t.Fatal(err)
				}
			}
			tr.loginDone()
			for i, st := range tc.steps {
				switch {
				case st.req:
					tr.beginRequest(st.status, st.desc, st.hasDesc, false)
				case st.env != 0:
					if err := tr.envChange(st.env, st.newV, st.oldV); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				default:
					tr.done(st.doneStat)
				}
			}
			got := tr.Snapshot()
			if got.Tx != tc.wantTx || got.TxDescriptor != tc.wantDesc || got.Database != tc.wantDB || got.Resets != tc.wantReset {
				t.Errorf("got tx=%v desc=%#x db=%q resets=%d, want tx=%v desc=%#x db=%q resets=%d",
					got.Tx, got.TxDescriptor, got.Database, got.Resets, tc.wantTx, tc.wantDesc, tc.wantDB, tc.wantReset)
			}
			if got.Language != "us_english" {
				t.Errorf("language %q, want us_english", got.Language)
			}
		})
	}
}

func TestStateTrackerRejectsMalformedValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		typ  uint8
		v    []byte
	}{
		{"database with a wrong length byte", envDatabase, []byte{5, 'a', 0}},
		{"descriptor of 3 bytes", envBeginTran, []byte{3, 1, 2, 3}},
		{"packet size not a number", envPacketSize, bvar("abc")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tr stateTracker
			if err := tr.envChange(tc.typ, tc.v, nil); err == nil {
				t.Error("want an error")
			}
		})
	}
}
