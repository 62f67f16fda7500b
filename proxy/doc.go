// Package proxy is tdsproxy's TDS proxy: it accepts SQL Server clients,
// terminates their TDS (and TLS) session, logs them in to the backend with
// their own credentials and relays their requests.
//
// # A session
//
// Each client connection is one session served by two goroutines. serve
// runs the handshake (PRELOGIN and TLS in any of the four client modes:
// none, login-only, full, TDS 8 strict), checks the login (SQL logins only),
// opens the backend connection with its own PRELOGIN, TLS and LOGIN7
// (following routing ENVCHANGEs, never relaying them), rewrites the login
// response for the client's packet size, and then runs the request loop,
// the only writer to the client. readLoop reads client messages; for each
// request it takes the session's turn (a one-slot token the loop gives
// back when the response is over), forwards the request's original bytes
// (re-packetized for the backend's packet size) and hands it to the loop,
// which streams the response back packet by packet while a tds.Walker
// follows its tokens. readLoop reads on meanwhile: an Attention is
// forwarded at once and the loop relays until the DONE_ATTN.
//
// # State
//
// Each session tracks its transaction state, database, language and resets
// from the token stream (see SessionState); it combines ENVCHANGE, the
// client's transaction descriptor, DONE_INXACT and the request text, and
// never concludes "no transaction" from a missing signal (DESIGN.md
// decision 8).
//
// # Errors
//
// Every internal failure has a Reason; errorTable in errors.go maps each
// Reason to what SQL Server would send (number, class, state, message),
// and toWire is the one function that turns a failure into an ERROR token.
// Reasons label tdsproxy_client_errors_total.
//
// # Operations
//
// Server.AdminHandler serves /metrics, /healthz, /readyz and /startup.
// Server.Shutdown drains: not ready, stop accepting, close idle sessions,
// let busy ones finish their request (and open transaction) within
// Config.ShutdownGrace, then close the rest. Logs are zap JSON lines with a
// session field; passwords and LOGIN7 bytes are never logged.
package proxy
