#!/usr/bin/env bash
# test/bench/run.sh — reproducible performance run for tdsproxy (BENCHMARKS.md).
#
# Builds mssqlsim, tdsproxy and tdsload, starts the simulator and two proxies
# as separate processes on loopback, and measures with tdsload, direct vs
# proxied IN THE SAME RUN, interleaved over several rounds (medians reported):
#   (a) SELECT 1 round trips/s, p50/p99 at 1, 16 and 64 connections
#   (b) a 10,000-row result, MB/s (narrow and wide rows)
#   (c) RSS per idle client connection with 5,000 idle connections
#   (d) CPU time per request in the proxy (and in the simulator, for scale)
# then the `go test -bench` micro-benchmarks (codec, classifier, simulator,
# routing, proxy).
#
# Targets: "direct" = the simulator's primary; "relay" = test/bench/baseline-relay,
# a zero-work TCP relay (two io.Copy per connection) in front of the primary,
# so that the cost of the extra process hop itself is measured in the same
# runs; "proxied" = tdsproxy with only a primary (pure passthrough); "routed" = a second tdsproxy with a replica
# configured, so each request goes through the router (issue 5's overhead);
# "policy" = a third tdsproxy enforcing examples/policy/reporting.yaml with an
# audit log, logged in as "reporter" (issue 4's enforcement on the path).
# Both legs run without TLS (encrypt=disable, --backend-encrypt disable) so
# that direct and proxied do the same work.
#
# Not part of `go test ./...`. Bounded (about 10-13 minutes with defaults on a
# 2-core machine), stops by itself, kills what it started.
#
# Usage:  test/bench/run.sh            full run
#         QUICK=1 test/bench/run.sh    ~2 minutes, to check the script
# Knobs (environment): ROUNDS (5), DUR (2s per tdsload run), WARMUP (1s),
#   CONNS (1,16,64), LARGE_CONNS (1), IDLE (5000), IDLE_HOLD (6s),
#   BENCH_PORT (24433: simulator; +1 replica; +100 proxied; +200 routed;
#   +400 policy; +500 relay; +300/+301/+302 admin), OUT (results directory,
#   default a new /tmp dir), RELAY_COPY (splice: io.Copy; buffer: a
#   read/write loop), SKIP_GOBENCH=1, SKIP_LOAD=1, SKIP_IDLE=1,
#   BIN (directory of prebuilt mssqlsim, tdsproxy, tdsload and
#   baseline-relay: skip the build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${ROUNDS:-1}; DUR=${DUR:-1s}; WARMUP=${WARMUP:-300ms}
	IDLE=${IDLE:-500}; IDLE_HOLD=${IDLE_HOLD:-3s}; BENCHTIME=${BENCHTIME:-200ms}; COUNT=${COUNT:-1}
fi
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-2s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-1,16,64}
LARGE_CONNS=${LARGE_CONNS:-1}
IDLE=${IDLE:-5000}
IDLE_HOLD=${IDLE_HOLD:-6s}
BENCHTIME=${BENCHTIME:-1s}
COUNT=${COUNT:-3}
PORT=${BENCH_PORT:-24433}
SIM_ADDR=127.0.0.1:$PORT
REPLICA_ADDR=127.0.0.1:$((PORT + 1))
PROXY_ADDR=127.0.0.1:$((PORT + 100))
ROUTED_ADDR=127.0.0.1:$((PORT + 200))
POLICY_ADDR=127.0.0.1:$((PORT + 400))
RELAY_ADDR=127.0.0.1:$((PORT + 500))
RELAY_COPY=${RELAY_COPY:-splice}
ADMIN_PROXY=127.0.0.1:$((PORT + 300))
ADMIN_ROUTED=127.0.0.1:$((PORT + 301))
ADMIN_POLICY=127.0.0.1:$((PORT + 302))
POLICY_FILE=${POLICY_FILE:-$ROOT/examples/policy/reporting.yaml}
POLICY_USER=reporter # a login of $POLICY_FILE allowed to read dbo
USER=bench
PASS=Bench-Pw1 # a throw-away login of the throw-away simulator
OUT=${OUT:-$(mktemp -d /tmp/tdsproxy-bench.XXXXXX)}
mkdir -p "$OUT/bin"
# Two 10,000-row results: narrow (one int column; the simulator's cost per
# row dominates) and wide (an int and a 200-character nvarchar, ~4 MB of
# TDS per result, so the bytes the proxy relays matter more).
LARGE_QUERY=${LARGE_QUERY:-SELECT TOP 10000 * FROM demo.dbo.numbers}
WIDE_DEFAULT="SELECT TOP 10000 n, REPLICATE(N'x', 200) AS pad FROM demo.dbo.numbers"
WIDE_QUERY=${WIDE_QUERY:-$WIDE_DEFAULT}

# The whole run is bounded: every tdsload run by RUN_LIMIT seconds (a
# connection stuck in a login is killed), and a watchdog ends the script
# after DEADLINE seconds whatever happens.
RUN_LIMIT=${RUN_LIMIT:-240}
DEADLINE=${DEADLINE:-1200}

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
WATCHDOG=
trap 'cleanup; [[ -n $WATCHDOG ]] && kill "$WATCHDOG" 2>/dev/null; true' EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }

dsn() { echo "sqlserver://${2:-$USER}:$PASS@$1?database=demo&encrypt=disable&dial+timeout=10"; }

# wait_port ADDR: until something accepts on ADDR (at most 20 s).
wait_port() {
	local host=${1%:*} port=${1##*:} i
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}

# port_free ADDR: fail when something already listens on ADDR.
port_free() {
	if (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; then
		echo "run.sh: $1 is already in use; set BENCH_PORT to another base port" >&2
		return 1
	fi
}

# start_all: the simulator (primary + 1 replica), the zero-work relay and
# the three proxies.
start_all() {
	local a
	for a in "$SIM_ADDR" "$REPLICA_ADDR" "$PROXY_ADDR" "$ROUTED_ADDR" "$POLICY_ADDR" "$RELAY_ADDR" \
		"$ADMIN_PROXY" "$ADMIN_ROUTED" "$ADMIN_POLICY"; do port_free "$a"; done
	"$OUT/bin/mssqlsim" -listen "$SIM_ADDR" -replicas 1 -login "$USER:$PASS" -login "$POLICY_USER:$PASS" -log warn \
		>"$OUT/mssqlsim.log" 2>&1 &
	SIM_PID=$!; PIDS+=("$SIM_PID")
	wait_port "$SIM_ADDR"; wait_port "$REPLICA_ADDR"
	"$OUT/bin/baseline-relay" -listen "$RELAY_ADDR" -target "$SIM_ADDR" -copy "$RELAY_COPY" >"$OUT/relay.log" 2>&1 &
	RELAY_PID=$!; PIDS+=("$RELAY_PID")
	"$OUT/bin/tdsproxy" serve --listen "$PROXY_ADDR" --primary "$SIM_ADDR" \
		--backend-encrypt disable --admin-listen "$ADMIN_PROXY" --log-level warn \
		>"$OUT/tdsproxy.log" 2>&1 &
	PROXY_PID=$!; PIDS+=("$PROXY_PID")
	TDSPROXY_MONITOR_PASSWORD=$PASS "$OUT/bin/tdsproxy" serve --listen "$ROUTED_ADDR" --primary "$SIM_ADDR" \
		--replica "$REPLICA_ADDR" --monitor-user "$USER" --backend-encrypt disable --admin-listen "$ADMIN_ROUTED" --log-level warn \
		>"$OUT/tdsproxy-routed.log" 2>&1 &
	ROUTED_PID=$!; PIDS+=("$ROUTED_PID")
	"$OUT/bin/tdsproxy" serve --listen "$POLICY_ADDR" --primary "$SIM_ADDR" --policy "$POLICY_FILE" \
		--audit-log "$OUT/audit.jsonl" --backend-encrypt disable --admin-listen "$ADMIN_POLICY" --log-level warn \
		>"$OUT/tdsproxy-policy.log" 2>&1 &
	POLICY_PID=$!; PIDS+=("$POLICY_PID")
	wait_port "$PROXY_ADDR"; wait_port "$ROUTED_ADDR"; wait_port "$POLICY_ADDR"; wait_port "$RELAY_ADDR"
}

machine() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) (+ uncommitted changes: $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files)"
		echo "go: $(go version)"
		echo "nproc: $(nproc)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
		echo "mem: $(free -m | awk '/Mem:/{print $2 " MiB"}')"
		echo "ulimit -n: $(ulimit -n)"
	} | tee "$OUT/machine.txt" >&2
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- build
MAIN=$$
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep "$DEADLINE" & sp=$!
	wait "$sp" && { echo "run.sh: deadline of ${DEADLINE}s reached, stopping" >&2; kill -TERM "$MAIN"; }
) &
WATCHDOG=$!

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
machine
log "results in $OUT; load average before: $(load_avg)"
if [[ -n ${BIN:-} ]]; then
	log "using prebuilt binaries from $BIN"
	cp "$BIN/mssqlsim" "$BIN/tdsproxy" "$BIN/tdsload" "$OUT/bin/"
	if [[ -x $BIN/baseline-relay ]]; then cp "$BIN/baseline-relay" "$OUT/bin/"
	else (cd "$ROOT" && go build -o "$OUT/bin/" ./test/bench/baseline-relay); fi
else
	log "building binaries"
	(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/mssqlsim ./cmd/tdsproxy ./cmd/tdsload ./test/bench/baseline-relay)
fi

# ---------------------------------------------------------------- load
if [[ ${SKIP_LOAD:-0} != 1 ]]; then
	start_all
	log "simulator pid $SIM_PID, relay pid $RELAY_PID, proxy pids: proxied $PROXY_PID, routed $ROUTED_PID, policy $POLICY_PID"
	: >"$OUT/load.jsonl"
	for r in $(seq 1 "$ROUNDS"); do
		# Alternate the order each round so that drift affects all alike.
		if ((r % 2 == 1)); then order=(direct relay proxied routed policy); else order=(policy routed proxied relay direct); fi
		targets=()
		for t in "${order[@]}"; do
			case $t in
			direct) targets+=(-target "direct=$(dsn "$SIM_ADDR")") ;;
			relay) targets+=(-target "relay=$(dsn "$RELAY_ADDR")") ;;
			proxied) targets+=(-target "proxied=$(dsn "$PROXY_ADDR")") ;;
			routed) targets+=(-target "routed=$(dsn "$ROUTED_ADDR")") ;;
			policy) targets+=(-target "policy=$(dsn "$POLICY_ADDR" "$POLICY_USER")") ;;
			esac
		done
		pids=(-pid "direct=$SIM_PID" -pid "relay=$RELAY_PID" -pid "proxied=$PROXY_PID" -pid "routed=$ROUTED_PID" -pid "policy=$POLICY_PID")
		la=$(load_avg)
		log "round $r/$ROUNDS: SELECT 1 at $CONNS conns (order ${order[*]}), load $la"
		timeout -k 5 "$RUN_LIMIT" "$OUT/bin/tdsload" -json "${targets[@]}" "${pids[@]}" -conns "$CONNS" -duration "$DUR" -warmup "$WARMUP" \
			-query "SELECT 1" | jq -c --arg r "$r" --arg la "$la" '. + {bench: "select1", round: ($r|tonumber), load: $la}' \
			>>"$OUT/load.jsonl"
		for b in large wide; do
			if [[ $b == large ]]; then q=$LARGE_QUERY; else q=$WIDE_QUERY; fi
			la=$(load_avg)
			log "round $r/$ROUNDS: $b 10,000-row result at $LARGE_CONNS conns, load $la"
			timeout -k 5 "$RUN_LIMIT" "$OUT/bin/tdsload" -json "${targets[@]}" "${pids[@]}" -conns "$LARGE_CONNS" -duration "$DUR" -warmup "$WARMUP" \
				-query "$q" | jq -c --arg r "$r" --arg la "$la" --arg b "$b" '. + {bench: $b, round: ($r|tonumber), load: $la}' \
				>>"$OUT/load.jsonl"
		done
	done
	# Evidence that the routed proxy did route (requests by target role).
	curl -s "http://$ADMIN_ROUTED/metrics" | grep -E '^tdsproxy_(router|backend)_' >"$OUT/routed-metrics.txt" || true
	curl -s "http://$ADMIN_POLICY/metrics" | grep -E '^tdsproxy_(policy|audit|cache)_' >"$OUT/policy-metrics.txt" || true
	cleanup
	# Medians over rounds; ratio = median(target) / median(direct), and the
	# median of the per-round ratios as a check on it; vs_relay = the same
	# against the zero-work relay (the cost of the proxy's code beyond the
	# extra hop). cpu_us/req is the watched process's CPU (the simulator for
	# direct, the relay or proxy otherwise).
	JQ_DEFS='
	  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
	  def r2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
	  def r0: if . == null then "-" else (. | round | tostring) end;
	  def rate($g; $t): $g | map(select(.target == $t) | .requests_per_second) | median;
	  def ratio($g; $a; $b): (rate($g; $a)) as $x | (rate($g; $b)) as $y |
	    if $x == null or $y == null or $y == 0 then null else $x / $y end;
	  def round_ratios($g; $a; $b): [ $g[] | select(.target == $a) | . as $row |
	    ($g | map(select(.target == $b and .round == $row.round)) | .[0].requests_per_second) as $br |
	    if $br and $br > 0 then $row.requests_per_second / $br else empty end ];'
	jq -s -r "$JQ_DEFS"'
	  group_by(.bench, .conns) | .[] |
	  . as $g |
	  ($g | map(.target) | unique) as $ts |
	  $ts[] as $t |
	  ($g | map(select(.target == $t))) as $x |
	  [ ($x[0].bench), ($x[0].conns|tostring), $t, ($x | length | tostring),
	    ($x | map(.requests_per_second) | median | r0),
	    ($x | map(.p50_us) | median | r0), ($x | map(.p99_us) | median | r0),
	    ($x | map(.mb_per_second) | median | r2),
	    ($x | map(.process_cpu_us_per_request // 0) | median | r2),
	    (ratio($g; $t; "direct") | r2), (round_ratios($g; $t; "direct") | median | r2),
	    (ratio($g; $t; "relay") | r2), (round_ratios($g; $t; "relay") | median | r2),
	    ($x | map(.errors) | add | tostring) ] | @tsv' "$OUT/load.jsonl" |
		(echo -e "bench\tconns\ttarget\trounds\treq/s\tp50_us\tp99_us\tMB/s\tcpu_us/req\tratio\tratio_med_rounds\tvs_relay\tvs_relay_med_rounds\terrors"; cat) |
		column -t -s $'\t' | tee "$OUT/load-summary.txt"
	# The headline: how much of the proxied/direct gap the hop itself explains.
	{
		echo
		echo "extra hop vs proxy code (ratios of median req/s; in brackets the median of per-round ratios):"
		jq -s -r "$JQ_DEFS"'
		  group_by(.bench, .conns) | .[] | . as $g |
		  def both($a; $b): "\(ratio($g; $a; $b) | r2) (\(round_ratios($g; $a; $b) | median | r2))";
		  "  \($g[0].bench) @ \($g[0].conns) conns: relay/direct \(both("relay"; "direct"))  proxied/direct \(both("proxied"; "direct"))  proxied/relay \(both("proxied"; "relay"))  routed/relay \(both("routed"; "relay"))  policy/relay \(both("policy"; "relay"))"' \
			"$OUT/load.jsonl"
	} | tee -a "$OUT/load-summary.txt"
fi

# ---------------------------------------------------------------- idle
# rss_max PID FILE: sample VmRSS (kB) every 0.25 s into FILE's max until killed.
rss_sampler() {
	local pid=$1 file=$2 max=0 v
	while true; do
		v=$(awk '/VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		((v > max)) && max=$v && echo "$max" >"$file"
		sleep 0.25
	done
}
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
heap_b() { # Go heap+stack in use (bytes) from an admin /metrics
	curl -s "http://$1/metrics" | awk '/^go_memstats_heap_inuse_bytes /{h=$2} /^go_memstats_stack_inuse_bytes /{s=$2} END{printf "%d\n", h+s}'
}
heap_sampler() { # heap_sampler ADMIN FILE: max of heap_b every 0.5 s into FILE
	local max=0 v
	while true; do
		v=$(heap_b "$1" 2>/dev/null || echo 0)
		((v > max)) && max=$v && echo "$max" >"$2"
		sleep 0.5
	done
}

if [[ ${SKIP_IDLE:-0} != 1 ]]; then
	# Descriptors: the proxy holds 2 per idle client (client and backend
	# sockets), the simulator 1 (a session opens its SQLite files only when
	# a query needs them; go-mssqldb's ping does not), tdsload 1.
	if ((2 * IDLE + 500 > $(ulimit -n))); then
		log "idle: WARNING: IDLE=$IDLE needs about $((2 * IDLE + 500)) file descriptors in the proxy; ulimit -n is $(ulimit -n)"
	fi
	: >"$OUT/idle.txt"
	for t in direct proxied; do
		# Fresh processes for each, so that freed-but-kept memory of one
		# measurement does not hide the next one's growth.
		start_all
		sleep 1
		sim0=$(rss_kb "$SIM_PID"); px0=$(rss_kb "$PROXY_PID"); heap0=$(heap_b "$ADMIN_PROXY")
		rss_sampler "$SIM_PID" "$OUT/idle-sim-max" & SAMP=$!; PIDS+=("$SAMP")
		rss_sampler "$PROXY_PID" "$OUT/idle-proxy-max" & SAMP2=$!; PIDS+=("$SAMP2")
		if [[ $t == direct ]]; then addr=$SIM_ADDR; pid=$SIM_PID; else addr=$PROXY_ADDR; pid=$PROXY_PID; fi
		log "idle: $IDLE connections $t, hold $IDLE_HOLD, load $(load_avg)"
		heap_sampler "$ADMIN_PROXY" "$OUT/idle-heap" & SAMP3=$!; PIDS+=("$SAMP3")
		timeout -k 5 "$RUN_LIMIT" "$OUT/bin/tdsload" -idle "$IDLE" -target "$t=$(dsn "$addr")" -pid "$t=$pid" -duration "$IDLE_HOLD" \
			| tee -a "$OUT/idle.txt" || log "idle $t: tdsload failed (see above)"
		kill "$SAMP" "$SAMP2" "$SAMP3" 2>/dev/null || true
		simmax=$(cat "$OUT/idle-sim-max"); pxmax=$(cat "$OUT/idle-proxy-max"); heap1=$(cat "$OUT/idle-heap")
		awk -v t="$t" -v n="$IDLE" -v s0="$sim0" -v s1="$simmax" -v p0="$px0" -v p1="$pxmax" -v h0="$heap0" -v h1="$heap1" 'BEGIN{
			printf "idle %s: simulator RSS %.1f -> %.1f MiB (%.1f KiB/conn)", t, s0/1024, s1/1024, (s1-s0)/n
			if (t == "proxied") printf "; proxy RSS %.1f -> %.1f MiB (%.1f KiB/conn), proxy Go heap+stack %.1f KiB/conn; proxy+simulator %.1f KiB/conn", p0/1024, p1/1024, (p1-p0)/n, (h1-h0)/1024/n, (s1-s0+p1-p0)/n
			printf "\n" }' | tee -a "$OUT/idle.txt"
		cleanup
		rm -f "$OUT/idle-sim-max" "$OUT/idle-proxy-max" "$OUT/idle-heap"
	done
fi

# ---------------------------------------------------------------- go test -bench
if [[ ${SKIP_GOBENCH:-0} != 1 ]]; then
	gb() { # gb PKG REGEX [extra flags]: go test -bench, appended to gobench.txt
		local pkg=$1 re=$2; shift 2
		log "go test -bench '$re' $pkg (load $(load_avg))"
		(cd "$ROOT" && go test -run '^$' -bench "$re" -benchmem -benchtime "$BENCHTIME" -count "$COUNT" "$@" "$pkg") \
			2>&1 | tee -a "$OUT/gobench.txt" | grep -E '^(Benchmark|ok|FAIL|---)' >&2 || true
	}
	: >"$OUT/gobench.txt"
	gb ./tds 'PacketReadMessage|PacketWriteMessage|Walker10kRows|DecodeRPCRequest'
	gb ./policy 'Lex|ClassifyUncached|ClassifyCached|Decide'
	gb ./cache 'GetHit'
	gb ./proxy/route 'Route'
	gb ./test/mssqlsim 'Select1Parallel' -benchtime 3s
	gb ./test/mssqlsim/sqlengine 'Select1$|NumbersRange'
	gb ./proxy 'ProxySelect1' -count 1
	gb ./proxy 'EnforceBatch'
	gb ./proxy 'IdleSessionMemory' -benchtime 1x -count 1
	# Medians of the -count runs, one line per benchmark and unit.
	awk '/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name)
		for (i = 3; i < NF; i += 2) printf "%s\t%s\t%s\n", name, $(i+1), $i }' "$OUT/gobench.txt" |
		sort -t $'\t' -k1,1 -k2,2 -k3,3g |
		awk -F '\t' 'function flush() { if (n) printf "%-58s %14.6g %s  (n=%d)\n", key1, (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2, key2, n }
			$1 != key1 || $2 != key2 { flush(); key1 = $1; key2 = $2; n = 0 }
			{ v[++n] = $3 } END { flush() }' | tee "$OUT/gobench-medians.txt"
fi

log "done; load average after: $(load_avg); results in $OUT"
