// Package policy classifies T-SQL requests and decides them against a
// DBA-written policy.
//
// The proxy turns each decoded TDS request into a neutral Request (it never
// hands tds types to this package), classifies it, decides it, and audits it:
//
//	store, err := policy.NewStore(files...)      // hot-reloadable compiled policy
//	go store.Watch(ctx, time.Second)             // and store.Reload() on SIGHUP
//	cl, err := policy.NewClassifier(10000)       // shared classification cache
//
//	// per request:
//	req := policy.Request{Kind: policy.RequestBatch, Text: sql, Login: login,
//		AppName: app, Host: host, Database: currentDB}
//	c, err := cl.Classify(req)                   // err: malformed request; c is unknown then
//	d := store.Load().Decide(req, c)
//	if !d.Allowed {
//		number, class, msg := d.Error()          // send ERROR + DONE, skip the backend
//	}
//	if d.MustAudit(c) { rec := audit.FromDecision(req, c, d); … writer.Write(&rec) }
//
// The classifier is the package's security core: a lexer that accounts for
// every byte (Lex), a statement splitter that needs no semicolons, and a
// per-statement classifier that records every object read or written. It
// fails closed: anything it cannot place is KindUnknown, which only a rule
// naming "unknown" allows.
package policy
