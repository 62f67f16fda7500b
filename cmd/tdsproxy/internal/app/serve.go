package app

import (
	"context"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tdsproxy/tdsproxy/cmd/tdsproxy/internal/lifecycle"
	"github.com/tdsproxy/tdsproxy/config"
	"github.com/tdsproxy/tdsproxy/proxy"
)

func (a *App) serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the proxy in front of a SQL Server",
		Long: `Run the proxy in front of a SQL Server.

Settings come from flags, then TDSPROXY_* environment variables, then the
YAML file named by --config, then the defaults shown below. Each flag's help
names its environment variable; the file uses the flag's name as its key
(except: replicas for --replica, policy-files for --policy).
See docs/configuration.md.

Signals: SIGTERM and SIGINT drain (not ready, stop accepting, wait up to
--shutdown-grace, close) and exit 143 / 130; a second one closes at once.
SIGHUP reloads the policy files.`,
		Example: `  tdsproxy serve --listen :1433 --primary sql1.example.internal:1433 --admin-listen :9090
  tdsproxy serve --config /etc/tdsproxy/tdsproxy.yaml
  TDSPROXY_PRIMARY=sql1:1433 TDSPROXY_REPLICAS=sql2:1433,sql3:1433 tdsproxy serve`,
		Args: cobra.NoArgs,
	}
	config.RegisterFlags(cmd.Flags())
	cmd.Flags().SortFlags = false
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		loader := config.NewLoader(cmd.Flags())
		s, err := loader.Load()
		if err != nil {
			return exitCode(ExitUsage, err)
		}
		return a.serve(cmd.Context(), s, loader)
	}
	return cmd
}

// serve runs the proxy with settings s until a signal.
func (a *App) serve(ctx context.Context, s config.Settings, loader *config.Loader) error {
	log, err := newLogger(s.LogLevel, s.LogFormat, a.Stderr)
	if err != nil {
		return exitCode(ExitUsage, err)
	}
	defer func() { _ = log.Sync() }()
	bi := ReadBuildInfo()
	log.Info("tdsproxy starting", zap.String("version", bi.Version), zap.String("commit", bi.Commit),
		zap.String("config_file", s.ConfigFile), zap.String("listen", s.Proxy.Listen),
		zap.String("primary", s.Proxy.Primary), zap.Strings("replicas", s.Proxy.Replicas))

	code := a.runProxy(ctx, log, s.Proxy, func(srv *proxy.Server) { reload(log, loader, srv) }, nil)
	if code != 0 {
		return exitCode(code, nil)
	}
	return nil
}

// runProxy creates the proxy, binds its listener, and runs it through the
// lifecycle until a signal; it returns the exit code. onListening, if not
// nil, is called once the proxy and admin listeners are bound.
func (a *App) runProxy(ctx context.Context, log *zap.Logger, cfg proxy.Config, reload func(*proxy.Server),
	onListening func(proxyAddr, adminAddr net.Addr)) int {
	cfg.SetDefaults()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := proxy.New(cfg, log, reg)
	if err != nil {
		log.Error("cannot start the proxy", zap.Error(err))
		return lifecycle.ExitError
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen for clients", zap.String("listen", cfg.Listen), zap.Error(err))
		return lifecycle.ExitError
	}
	svc := &boundServer{srv: srv, ln: ln}
	if reload == nil {
		reload = func(*proxy.Server) { log.Info("SIGHUP: nothing to reload") }
	}
	var adminAddr net.Addr
	notify := func() {
		if onListening != nil {
			onListening(ln.Addr(), adminAddr)
		}
		if a.Listening != nil {
			a.Listening(ln.Addr(), adminAddr)
		}
	}
	r := &lifecycle.Runner{
		Log:         log,
		Service:     svc,
		AdminListen: cfg.AdminListen,
		Grace:       cfg.ShutdownGrace,
		Signals:     a.Signals,
		Reload:      func() { reload(srv) },
		AdminReady:  func(addr net.Addr) { adminAddr = addr },
	}
	// The lifecycle binds the admin listener before serving; tell the caller
	// once both are bound.
	svc.started = notify
	return r.Run(ctx)
}

// boundServer runs a proxy.Server on a listener bound beforehand, so that
// bind errors are reported before anything else and the real address is
// known (":0" in tests).
type boundServer struct {
	srv     *proxy.Server
	ln      net.Listener
	started func()
}

func (b *boundServer) ListenAndServe(ctx context.Context) error {
	if b.started != nil {
		b.started()
	}
	return b.srv.Serve(ctx, b.ln)
}

func (b *boundServer) Shutdown(ctx context.Context) error { return b.srv.Shutdown(ctx) }

func (b *boundServer) AdminHandler() http.Handler { return b.srv.AdminHandler() }

// reload handles SIGHUP: it re-reads the configuration (reporting errors
// and keeping the running one), applies the backend topology (replicas
// added or removed, weights, lag limits, health settings) without dropping
// sessions on unchanged backends, and reloads the policy files. Other changed
// settings need a restart.
func reload(log *zap.Logger, loader *config.Loader, srv *proxy.Server) {
	if loader != nil {
		if s, err := loader.Reload(); err != nil {
			log.Error("SIGHUP: configuration file not valid, keeping the running configuration", zap.Error(err))
		} else if err := srv.ReloadRouting(s.Proxy); err != nil {
			log.Error("SIGHUP: backend topology not applied, keeping the running one", zap.Error(err))
		} else {
			log.Info("SIGHUP: configuration re-read; backends and policy files applied, other settings apply at the next restart",
				zap.Strings("replicas", s.Proxy.Replicas), zap.Strings("policy_files", s.Proxy.PolicyFiles))
		}
	}
	if err := srv.ReloadPolicy(); err != nil {
		log.Error("SIGHUP: policy reload failed, the previous policy stays in force", zap.Error(err))
		return
	}
	log.Info("SIGHUP: policy reloaded")
}
