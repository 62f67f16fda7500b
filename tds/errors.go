package tds

import "fmt"

// FormatError reports malformed input: which message (or token) and which
// field could not be decoded, and why. Every decoder in this package returns
// a *FormatError (possibly wrapped) for bad input; none panics.
type FormatError struct {
	Msg    string // message or token, e.g. "LOGIN7", "COLMETADATA"
	Field  string // field, e.g. "ibUserName"
	Reason string // what was wrong, e.g. "offset 300 beyond message length 94"
}

func (e *FormatError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("tds: malformed %s: %s", e.Msg, e.Reason)
	}
	return fmt.Sprintf("tds: malformed %s: field %s: %s", e.Msg, e.Field, e.Reason)
}

// formatErr builds a *FormatError with a formatted reason.
func formatErr(msg, field, format string, args ...any) error {
	return &FormatError{Msg: msg, Field: field, Reason: fmt.Sprintf(format, args...)}
}
