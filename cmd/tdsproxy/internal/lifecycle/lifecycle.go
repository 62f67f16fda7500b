// Package lifecycle runs a server process: it serves the admin HTTP endpoint,
// turns SIGTERM and SIGINT into a graceful drain, SIGHUP into a reload, and
// returns the process's exit code (143 for SIGTERM, 130 for SIGINT, as
// shells and cloud-sql-proxy report them).
package lifecycle

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Exit codes returned by Run.
const (
	ExitOK      = 0
	ExitError   = 1   // the server failed (listen error, admin listen error, …)
	ExitSIGINT  = 130 // 128 + SIGINT
	ExitSIGTERM = 143 // 128 + SIGTERM
)

// Service is what Run drives; *proxy.Server implements it.
type Service interface {
	// ListenAndServe serves until Shutdown completes (returning nil), ctx
	// is done, or it fails.
	ListenAndServe(ctx context.Context) error
	// Shutdown stops being ready, stops accepting and waits for in-flight
	// work up to the service's own grace period or until ctx is done.
	Shutdown(ctx context.Context) error
	// AdminHandler serves /metrics, /healthz and /readyz.
	AdminHandler() http.Handler
}

// Runner runs one Service until a signal or a failure. Fill the fields,
// then call Run once.
type Runner struct {
	// Log receives lifecycle events. Required.
	Log *zap.Logger
	// Service is the server to run. Required.
	Service Service
	// AdminListen is the admin HTTP address ("" = no admin listener).
	AdminListen string
	// Grace is the service's drain period; Run gives Shutdown Grace plus
	// ShutdownSlack before giving up on it.
	Grace time.Duration
	// Signals delivers SIGTERM, SIGINT and SIGHUP; nil means Run subscribes
	// to the process's signals itself (see Notify).
	Signals <-chan os.Signal
	// Reload is called on SIGHUP (e.g. to reload policy files); nil means
	// SIGHUP is logged and ignored.
	Reload func()
	// AdminReady, if set, is called with the admin listener's address once
	// it is listening (tests, and the demo's banner).
	AdminReady func(net.Addr)
}

// ShutdownSlack is added to Grace to bound Shutdown as a whole: the grace
// period plus the time to close what is left.
const ShutdownSlack = 5 * time.Second

// Notify subscribes to SIGTERM, SIGINT and SIGHUP and returns the channel
// and a function that unsubscribes.
func Notify() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// Run starts the admin listener and the service, waits for a signal, ctx's
// end or a service failure, drains, and returns the exit code. A second
// SIGTERM or SIGINT during the drain closes everything at once.
func (r *Runner) Run(ctx context.Context) int {
	log := r.Log
	sigs := r.Signals
	if sigs == nil {
		ch, stop := Notify()
		defer stop()
		sigs = ch
	}

	// The service's context: cancelling it closes every session at once.
	serveCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()

	var admin *http.Server
	adminDone := make(chan struct{})
	if r.AdminListen != "" {
		ln, err := net.Listen("tcp", r.AdminListen)
		if err != nil {
			log.Error("admin listener failed", zap.String("admin_listen", r.AdminListen), zap.Error(err))
			return ExitError
		}
		admin = &http.Server{Handler: r.Service.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			defer close(adminDone)
			if err := admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server failed", zap.Error(err))
			}
		}()
		log.Info("admin listening", zap.String("addr", ln.Addr().String()))
		if r.AdminReady != nil {
			r.AdminReady(ln.Addr())
		}
	} else {
		close(adminDone)
	}
	stopAdmin := func() {
		if admin == nil {
			return
		}
		actx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := admin.Shutdown(actx); err != nil {
			_ = admin.Close()
		}
		<-adminDone
	}

	served := make(chan error, 1)
	go func() { served <- r.Service.ListenAndServe(serveCtx) }()

	code := ExitOK
wait:
	for {
		select {
		case err := <-served:
			// The service stopped by itself: no drain to do.
			if err != nil {
				log.Error("server failed", zap.Error(err))
				code = ExitError
			}
			stopAdmin()
			return code
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if r.Reload == nil {
					log.Info("SIGHUP ignored: nothing to reload")
					continue
				}
				log.Info("SIGHUP: reloading")
				r.Reload()
				continue
			}
			code = exitCodeFor(sig)
			log.Info("signal received: draining", zap.String("signal", sig.String()), zap.Duration("grace", r.Grace))
			break wait
		case <-ctx.Done():
			log.Info("stopping: draining", zap.Duration("grace", r.Grace))
			break wait
		}
	}

	sctx, cancel := context.WithTimeout(context.Background(), r.Grace+ShutdownSlack)
	defer cancel()
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- r.Service.Shutdown(sctx) }()
	for drained := false; !drained; {
		select {
		case err := <-shutdownDone:
			if err != nil {
				log.Warn("shutdown did not finish cleanly", zap.Error(err))
			}
			drained = true
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				continue
			}
			log.Warn("second signal: closing every session now", zap.String("signal", sig.String()))
			cancel()
			hardStop()
		}
	}
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("server ended with an error during shutdown", zap.Error(err))
		}
	case <-time.After(ShutdownSlack):
		log.Warn("server did not return after shutdown: closing every session now")
		hardStop()
		select {
		case <-served:
		case <-time.After(ShutdownSlack):
			log.Error("server still running; exiting anyway")
		}
	}
	stopAdmin()
	log.Info("stopped", zap.Int("exit_code", code))
	return code
}

// exitCodeFor maps a terminating signal to the conventional exit code.
func exitCodeFor(sig os.Signal) int {
	switch sig {
	case syscall.SIGTERM:
		return ExitSIGTERM
	case syscall.SIGINT:
		return ExitSIGINT
	}
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return ExitError
}
