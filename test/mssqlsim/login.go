package mssqlsim

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/tds"
	"github.com/tdsproxy/tdsproxy/test/mssqlsim/sqlengine"
)

// Version the simulator claims: SQL Server 2022 (16.0), build 4135.
const (
	verMajor, verMinor = 16, 0
	verBuild           = 4135
	progName           = "Microsoft SQL Server"
	defaultDatabase    = "master"
	defaultLanguage    = "us_english"
	// preloginVersion is the PRELOGIN VERSION: major, minor, build (big endian).
	preloginVersion = uint32(verMajor)<<24 | uint32(verMinor)<<16 | verBuild
)

// handshakeSettings is what every server of a cluster shares for handshakes.
type handshakeSettings struct {
	config *tds.ServerHandshakeConfig
}

func newHandshakeSettings(cfg Config) (handshakeSettings, error) {
	hc := &tds.ServerHandshakeConfig{Encryption: cfg.Encryption, Version: preloginVersion}
	if cfg.Encryption != tds.EncryptNotSup {
		tc, err := serverTLSConfig(cfg)
		if err != nil {
			return handshakeSettings{}, err
		}
		hc.TLS = tc
	}
	return handshakeSettings{config: hc}, nil
}

// loginError is an error the login sequence reports to the client.
type loginError struct {
	errs []tds.ServerError
	why  string // for the log; never contains a password
}

func (e *loginError) Error() string { return e.why }

// doLogin checks the login, opens the session and writes the login response
// (or the login failure). It reports whether the client is logged in.
func (c *conn) doLogin(ctx context.Context, l *tds.Login7) bool {
	if d := c.srv.LoginDelay(); d > 0 && !sleep(ctx, d, c.stopping) {
		return false
	}
	packetSize := negotiatePacketSize(l.PacketSize)
	sess, err := c.authenticate(l)
	if err != nil {
		var le *loginError
		if !errors.As(err, &le) {
			le = &loginError{why: err.Error(), errs: []tds.ServerError{c.loginFailed(l.UserName)}}
		}
		c.log.Info("login refused", zap.String("user", l.UserName), zap.String("reason", le.why))
		var b []byte
		for _, e := range le.errs {
			b = tds.AppendMessage(b, tds.TokenError, e, c.tdsVersion)
		}
		b = tds.AppendDone(b, tds.TokenDone, tds.Done{Status: tds.DoneError}, c.tdsVersion)
		_ = c.pw.WriteMessage(tds.PacketReply, 0, b)
		return false
	}
	c.sess = sess
	b := c.loginResponse(l, sess.Database(), packetSize)
	if err := c.pw.WriteMessage(tds.PacketReply, 0, b); err != nil {
		c.log.Info("writing login response failed", zap.Error(err))
		return false
	}
	// The negotiated size applies from the next message on, both ways.
	c.pw.SetPacketSize(packetSize)
	c.pr.SetPacketSize(packetSize)
	c.log.Debug("logged in", zap.String("user", l.UserName), zap.String("database", sess.Database()),
		zap.Bool("read_only_intent", l.ReadOnlyIntent()), zap.Int("packet_size", packetSize))
	return true
}

// negotiatePacketSize answers the client's requested packet size: 0 means
// the server default, anything else is clamped to what SQL Server allows.
func negotiatePacketSize(req uint32) int {
	switch {
	case req == 0:
		return tds.DefaultPacketSize
	case req < tds.MinPacketSize:
		return tds.MinPacketSize
	case req > tds.MaxPacketSize:
		return tds.MaxPacketSize
	}
	return int(req)
}

func (c *conn) loginFailed(user string) tds.ServerError {
	return tds.ServerError{Number: sqlengine.ErrLoginFailed, State: 1, Class: 14,
		Message: fmt.Sprintf("Login failed for user '%s'.", user), ServerName: c.srv.name, Line: 1}
}

// authenticate checks the login against the configured SQL logins and the
// injected faults, and opens the session in the requested database.
func (c *conn) authenticate(l *tds.Login7) (*sqlengine.Session, error) {
	switch {
	case l.TDSVersion < tds.VerTDS71 && l.TDSVersion>>24 != 0x08:
		return nil, &loginError{why: fmt.Sprintf("TDS version %#x is older than 7.1", l.TDSVersion),
			errs: []tds.ServerError{c.loginFailed(l.UserName)}}
	case l.FedAuth():
		return nil, &loginError{why: "federated authentication requested", errs: []tds.ServerError{{
			Number: sqlengine.ErrLoginFailed, State: 1, Class: 14, ServerName: c.srv.name, Line: 1,
			Message: "Login failed: federated (Azure AD / Entra ID) authentication is not supported by mssqlsim; use a SQL login."}}}
	case l.IntegratedSecurity():
		return nil, &loginError{why: "integrated (SSPI) authentication requested", errs: []tds.ServerError{{
			Number: 18452, State: 1, Class: 14, ServerName: c.srv.name, Line: 1,
			Message: "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication. mssqlsim supports SQL logins only."}}}
	case c.srv.LoginFailure():
		return nil, &loginError{why: "login failure injected", errs: []tds.ServerError{c.loginFailed(l.UserName)}}
	}
	want, ok := lookupLogin(c.srv.cluster.cfg.Logins, l.UserName)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(l.Password)) != 1 {
		why := "wrong password"
		if !ok {
			why = "unknown login"
		}
		return nil, &loginError{why: why, errs: []tds.ServerError{c.loginFailed(l.UserName)}}
	}
	db := l.Database
	if db == "" {
		db = defaultDatabase
	}
	sess, err := c.srv.db.NewSession(l.UserName, db, c.spid)
	if err != nil {
		var le *sqlengine.LoginError
		if errors.As(err, &le) {
			e := le.Err
			e.ServerName, e.Line = c.srv.name, 1
			errs := []tds.ServerError{e}
			if e.Number != sqlengine.ErrLoginFailed {
				errs = append(errs, c.loginFailed(l.UserName)) // SQL Server follows 4060 with 18456
			}
			return nil, &loginError{why: e.Message, errs: errs}
		}
		return nil, fmt.Errorf("opening session: %w", err)
	}
	return sess, nil
}

// loginResponse builds the tokens of a successful login in the order SQL
// Server sends them: ENVCHANGE database, INFO 5701, ENVCHANGE collation,
// ENVCHANGE language, INFO 5703, LOGINACK, ENVCHANGE packet size,
// [FEATUREEXTACK], DONE.
func (c *conn) loginResponse(l *tds.Login7, database string, packetSize int) []byte {
	b := make([]byte, 0, 512)
	b = tds.AppendEnvChange(b, tds.EnvDatabase(database, defaultDatabase))
	b = tds.AppendMessage(b, tds.TokenInfo, tds.ServerError{Number: sqlengine.ErrChangedDBContext, State: 2, Class: 0,
		Message: fmt.Sprintf("Changed database context to '%s'.", database), ServerName: c.srv.name, Line: 1}, c.tdsVersion)
	b = tds.AppendEnvChange(b, tds.EnvCollation(tds.DefaultCollation, tds.Collation{}))
	b = tds.AppendEnvChange(b, tds.EnvLanguage(defaultLanguage, ""))
	b = tds.AppendMessage(b, tds.TokenInfo, tds.ServerError{Number: sqlengine.ErrChangedLanguage, State: 1, Class: 0,
		Message: "Changed language setting to " + defaultLanguage + ".", ServerName: c.srv.name, Line: 1}, c.tdsVersion)
	b = tds.AppendLoginAck(b, tds.LoginAck{
		Interface:   1, // SQL_TSQL
		TDSVersion:  c.tdsVersion,
		ProgName:    progName,
		ProgVersion: [4]byte{verMajor, verMinor, verBuild >> 8, verBuild & 0xFF},
	})
	b = tds.AppendEnvChange(b, tds.EnvPacketSize(packetSize, tds.DefaultPacketSize))
	if c.tdsVersion >= tds.VerTDS74 {
		// Acknowledge UTF-8 support when asked, as SQL Server 2019+ does; other
		// features (session recovery, column encryption, …) are declined by
		// omission.
		if _, ok := l.Feature(tds.FeatureUTF8Support); ok {
			b = tds.AppendFeatureExtAck(b, []tds.FeatureExt{{ID: tds.FeatureUTF8Support, Data: []byte{1}}})
		}
	}
	return tds.AppendDone(b, tds.TokenDone, tds.Done{}, c.tdsVersion)
}

// lookupLogin finds a login's password. Login names compare without regard
// to case, as under SQL Server's default collation; passwords do not.
func lookupLogin(logins map[string]string, name string) (string, bool) {
	if pw, ok := logins[name]; ok {
		return pw, true
	}
	for n, pw := range logins {
		if strings.EqualFold(n, name) {
			return pw, true
		}
	}
	return "", false
}
