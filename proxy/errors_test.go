package proxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorTableCoversEveryReason(t *testing.T) {
	t.Parallel()
	for _, r := range allReasons {
		if _, ok := errorTable[r]; !ok {
			t.Errorf("reason %q has no row in errorTable", r)
		}
	}
	if len(errorTable) != len(allReasons) {
		t.Errorf("errorTable has %d rows for %d reasons", len(errorTable), len(allReasons))
	}
}

func TestToWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantOK     bool
		wantNumber int32
		wantClass  uint8
		wantMsg    string
	}{
		{
			name:       "backend unavailable is 40613 class 17 with SQL Server's text",
			err:        failf(ReasonBackendUnavailable, errors.New("dial"), "orders", "10.0.0.1:1433", "connection refused"),
			wantOK:     true,
			wantNumber: 40613, wantClass: 17,
			wantMsg: "Database 'orders' on server '10.0.0.1:1433' is not currently available. Please retry the connection later.",
		},
		{
			name:       "too many connections names the limit",
			err:        failf(ReasonTooManyConns, nil, 100),
			wantOK:     true,
			wantNumber: 17809, wantClass: 20,
			wantMsg: "maximum number of '100' user connections",
		},
		{
			name:       "unsupported auth says what is supported",
			err:        failf(ReasonUnsupportedAuth, nil, "bob", "integrated (Windows/SSPI) authentication"),
			wantOK:     true,
			wantNumber: 18456, wantClass: 14,
			wantMsg: "supports SQL Server authentication (user name and password) only",
		},
		{
			name:       "message too large names the setting",
			err:        failf(ReasonMessageTooLarge, nil, 4096),
			wantOK:     true,
			wantNumber: 4002, wantClass: 20,
			wantMsg: "more than 4096 bytes exceeds tdsproxy's max-message-size",
		},
		{
			name:   "login timeout is silent",
			err:    failf(ReasonLoginTimeout, errors.New("deadline")),
			wantOK: false,
		},
		{
			name:   "idle timeout is silent",
			err:    failf(ReasonIdleTimeout, nil),
			wantOK: false,
		},
		{
			name:       "a wrapped session error keeps its reason",
			err:        fmt.Errorf("outer: %w", failf(ReasonBackendLost, nil, "the backend closed the connection")),
			wantOK:     true,
			wantNumber: 40197, wantClass: 20,
			wantMsg: "the connection to the backend was lost: the backend closed the connection",
		},
		{
			name:       "an unknown error is internal",
			err:        errors.New("boom"),
			wantOK:     true,
			wantNumber: 40197, wantClass: 20,
			wantMsg: "tdsproxy internal error",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			we, ok := toWire(classify(tc.err))
			if ok != tc.wantOK {
				t.Fatalf("toWire ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if we.Number != tc.wantNumber || we.Class != tc.wantClass {
				t.Errorf("got %d class %d, want %d class %d", we.Number, we.Class, tc.wantNumber, tc.wantClass)
			}
			if !strings.Contains(we.Message, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", we.Message, tc.wantMsg)
			}
			if strings.Contains(we.Message, "%!") {
				t.Errorf("message %q has a formatting error", we.Message)
			}
		})
	}
}
