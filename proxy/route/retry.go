package route

// Retry decides whether a request that failed may be retried once on
// another backend, and where: only a read that was Retryable, failed with a
// connect or I/O error before any byte of its response reached the client
// (sentToClient false), on its first attempt. Writes, requests inside a
// transaction and already-retried requests are never retried. The failed
// backend is excluded; the caller must also report the failure to that
// backend's breaker (the done func of Decision.Begin).
func (r *Router) Retry(req *RequestInfo, s *SessionInfo, failed Decision, sentToClient bool) (Decision, bool) {
	if !failed.Retryable || sentToClient || req.Exclude != "" || failed.Backend == "" {
		return Decision{}, false
	}
	again := *req
	again.Exclude = failed.Backend
	d := r.route(&again, s)
	if d.Target == TargetNone || d.Backend == failed.Backend {
		return Decision{}, false
	}
	d.Retryable = false
	if r.metrics != nil {
		r.metrics.retries.Inc()
		r.metrics.countRoute(d.Target, d.Reason)
	}
	return d, true
}

// Begin starts the work of a decision on its backend: it asks the
// backend's breaker (ErrBreakerOpen: route again with Exclude set, or
// answer 40613) and counts the request as outstanding. The caller must call
// done exactly once when the response has ended or failed, with a non-nil
// error only for connect or I/O failures. Start is the same without
// allocating a callback.
func (d *Decision) Begin() (done func(ioErr error), err error) {
	w, err := d.Start()
	if err != nil {
		return nil, err
	}
	return w.End, nil
}

// Work is a request begun on a backend (Decision.Start). End must be
// called exactly once.
type Work struct {
	ref *backendRef
	t   ticket
}

// Start is Begin returning the work as a value: the request path neither
// allocates nor locks while the backend's breaker is closed and clean.
func (d *Decision) Start() (Work, error) {
	if d.ref == nil {
		return Work{}, ErrNoBackend
	}
	t, err := d.ref.breaker.begin()
	if err != nil {
		return Work{}, err
	}
	d.ref.outstanding.Add(1)
	d.ref.served.Add(1)
	return Work{ref: d.ref, t: t}, nil
}

// End reports the outcome of the work when its response has ended or
// failed: a non-nil error only for connect or I/O failures.
func (w Work) End(ioErr error) {
	if w.ref == nil {
		return
	}
	w.ref.outstanding.Add(-1)
	w.ref.breaker.end(w.t, ioErr)
}
