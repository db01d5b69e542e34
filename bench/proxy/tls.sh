# bench/proxy/tls.sh — sourced by bench/proxy/run: the HTTPS and HTTP/2 half
# of the proxy benchmark. Every proxy terminates TLS with the same ECDSA
# P-256 certificate for bench.test (made here), with one worker, in front of
# the same upstream as the plain half, and is measured the same way:
#
#   full hs/s        TLS handshakes per second, a new full handshake per
#                    connection (bench/proxy/tlsclient: connect, handshake
#                    with SNI bench.test, one GET with Connection: close,
#                    answer checked, close), BENCH_TLS_THREADS client threads
#   resumed hs/s     the same, each connection resuming its thread's last
#                    session (tickets or the session cache, whichever the
#                    server offers); the share that was really resumed is
#                    checked and noted when it is not all
#   h1 req/s         HTTPS keep-alive requests per second, h2load --h1 -c64
#   h2 req/s         HTTP/2 requests per second, h2load -c64 -m10
#   instr/req        user-space instructions per HTTPS keep-alive request
#                    under callgrind, as the plain half counts them, with
#                    h2load --h1 over cg_base connections as the client;
#                    the protocol and cipher suite it negotiated with each
#                    proxy head the table (a fair row compares like with like)
#   instr/h2 req     the same per HTTP/2 request: h2load -m10 over cg_base
#                    connections, so streams run ten at a time on each
#
# BENCH_INSTR_ONLY=1 (bench/proxy/run) keeps only the instr/req rows.
#
# It uses the helpers of bench/proxy/run (spawn, stop, free_port,
# wait_listen, run_fg, cg_dump, say, note) and adds start_tls_NAME for each
# proxy. Only 127.0.0.1 is contacted.

tls_threads=${BENCH_TLS_THREADS:-4}
tls_secs=$(((secs + 1) / 2))
declare -A hs_full hs_res h1s h2s tinstr tcipher h2instr

# The certificate every proxy serves, and the combined file HAProxy wants.
tls_setup() {
	tls_dir=$work/tls
	mkdir -p "$tls_dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" -days 2 -subj /CN=bench.test \
		-addext subjectAltName=DNS:bench.test >"$tls_dir/openssl.log" 2>&1 ||
		die "cannot make the benchmark's certificate: $(tail -n 2 "$tls_dir/openssl.log")"
	cat "$tls_dir/cert.pem" "$tls_dir/key.pem" >"$tls_dir/combined.pem"
	if [[ ! -x $bindir/tlsclient || $top/bench/proxy/tlsclient.c -nt $bindir/tlsclient ]]; then
		gcc "${cflags[@]}" -o "$bindir/tlsclient" "$top/bench/proxy/tlsclient.c" -lssl \
			-lcrypto -lpthread || die "cannot build tlsclient"
	fi
	command -v h2load >/dev/null 2>&1 || die "h2load is missing: apt-get install nghttp2-client"
}

start_tls_nginx() {
	local port=$1 up=$2 dir=$3
	shift 3
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $((nofile - 100));
events {
	worker_connections 20000;
}
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	keepalive_requests 10000000;
	keepalive_timeout 300s;
	http2_max_requests 10000000;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_session_cache shared:SSL:10m;
	ssl_session_tickets on;
	upstream app {
		server 127.0.0.1:$up;
		keepalive 256;
		keepalive_requests 10000000;
		keepalive_timeout 300s;
	}
	server {
		listen 127.0.0.1:$port ssl http2 backlog=4096;
		server_name bench.test;
		ssl_certificate $tls_dir/cert.pem;
		ssl_certificate_key $tls_dir/key.pem;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_set_header X-Forwarded-Host \$host;
		}
	}
}
EOF
	spawn nginx-tls "$@" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
}

start_tls_haproxy() {
	local port=$1 up=$2 dir=$3
	shift 3
	cat >"$dir/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn 20000
	ulimit-n $((nofile - 100))
	no strict-limits
	ssl-default-bind-options ssl-min-ver TLSv1.2
	tune.ssl.cachesize 100000
defaults
	mode http
	timeout connect 5s
	timeout client 300s
	timeout server 300s
	timeout http-keep-alive 300s
	http-reuse always
frontend bench
	bind 127.0.0.1:$port ssl crt $tls_dir/combined.pem alpn h2,http/1.1
	maxconn 20000
	default_backend app
backend app
	option forwardfor
	http-request set-header X-Forwarded-Proto https
	http-request set-header X-Forwarded-Host %[req.hdr(host)]
	server app 127.0.0.1:$up
EOF
	spawn haproxy-tls "$@" haproxy -db -f "$dir/haproxy.cfg"
}

start_tls_caddy() {
	local port=$1 up=$2 dir=$3
	shift 3
	cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https disable_redirects
	skip_install_trust
}
https://bench.test:$port {
	bind 127.0.0.1
	tls $tls_dir/cert.pem $tls_dir/key.pem
	reverse_proxy 127.0.0.1:$up {
		transport http {
			keepalive 300s
			keepalive_idle_conns 256
			keepalive_idle_conns_per_host 256
		}
	}
}
EOF
	local godebug=
	(($#)) && godebug=asyncpreemptoff=1
	spawn caddy-tls env GOMAXPROCS=1 GODEBUG="$godebug" HOME="$dir" XDG_DATA_HOME="$dir/data" \
		XDG_CONFIG_HOME="$dir/config" "$@" caddy run --adapter caddyfile \
		--config "$dir/Caddyfile"
}

# berth-proxy: HTTPS on the port, the plain port unused, one service for
# bench.test with the certificate from files.
start_tls_berth() {
	local port=$1 up=$2 dir=$3 bin pid plain
	shift 3
	bin=$(realpath "$berth_bin")
	plain=$(free_port) || return 1
	mkdir -p "$dir/state"
	spawn berth-tls "$@" "$bin" run --listen 127.0.0.1 --http-port "$plain" --https-port "$port" \
		--workers 1 --state-dir "$dir/state" --socket "$dir/control.sock"
	pid=$spawned
	if wait_listen "$port" 60 "$pid"; then
		run_fg timeout 60 "$bin" deploy bench --target "127.0.0.1:$up" --host bench.test --tls \
			--tls-certificate-path "$tls_dir/cert.pem" --tls-private-key-path "$tls_dir/key.pem" \
			--socket "$dir/control.sock" >"$work/berth-tls-deploy.log" 2>&1 ||
			say "berth: TLS deploy failed: $(tail -n 3 "$work/berth-tls-deploy.log" | paste -sd' ' -)"
	fi
	spawned=$pid
}

start_tls_proxy() { # NAME PORT UPSTREAM_PORT WRAPPER...
	local name=$1 port=$2 up=$3 dir
	shift 3
	dir=$work/$name-tls-$port
	mkdir -p "$dir"
	"start_tls_$name" "$port" "$up" "$dir" "$@"
	if ! wait_listen "$port" 90 "$spawned"; then
		say "$name (TLS) did not start listening on 127.0.0.1:$port; its output:"
		tail -n 15 "$work/$name-tls.err" "$work/$name-tls.out" 2>/dev/null | sed 's/^/#   /'
		stop "$spawned"
		return 1
	fi
}

# tls_hs NAME PORT new|resume: sets HS_RATE and notes trouble.
tls_hs() {
	local name=$1 port=$2 mode=$3 f n r e s
	f=$work/tlsclient-$name-$mode.txt
	HS_RATE=
	run_fg timeout $((tls_secs + 30)) "$bindir/tlsclient" "$port" bench.test "$tls_secs" \
		"$tls_threads" "$mode" >"$f" 2>&1
	read -r _ n _ r _ e _ s <<<"$(grep '^handshakes' "$f")"
	if [[ -z ${n:-} || -z ${s:-} ]]; then
		note "$name" "tls $mode: $(paste -sd' ' "$f")"
		return
	fi
	HS_RATE=$(awk -v n="$n" -v s="$s" 'BEGIN {printf "%d", n / s}')
	((e > 0)) && note "$name" "tls $mode: $e failed connections"
	if [[ $mode == resume ]] && ((n > 0 && r * 10 < n * 9)); then
		note "$name" "only $r of $n handshakes resumed"
	fi
	return 0
}

# h2load_run NAME PORT SECONDS ARGS...: sets H_RPS.
h2load_run() {
	local name=$1 port=$2 d=$3 f
	shift 3
	f=$work/h2load-$name.txt
	H_RPS=
	run_fg timeout $((d + 30)) h2load -t1 -D "$d" --warm-up-time=1 "$@" \
		--connect-to="127.0.0.1:$port" "https://bench.test:$port/" >"$f" 2>&1
	H_RPS=$(awk '/^finished in/ {gsub(",", "", $4); printf "%d", $4}' "$f")
	H_PROTO=$(awk '/^Application protocol:/ {print $3; exit}' "$f")
	local failed
	failed=$(awk '/^requests:/ {print $8}' "$f")
	[[ -n $failed && $failed != 0 ]] && note "$name" "h2load $*: $failed failed requests"
	[[ -z $H_RPS ]] && note "$name" "h2load $*: $(tail -n 2 "$f" | paste -sd' ' -)"
	return 0
}

measure_tls() { # NAME UPSTREAM_PORT
	local name=$1 up=$2 port pid code
	if ((${instr_only:-0})); then
		measure_tls_instr "$name" "$up"
		measure_tls_instr "$name" "$up" h2
		return
	fi
	port=$(free_port) || return
	start_tls_proxy "$name" "$port" "$up" || {
		note "$name" "TLS: did not start"
		return
	}
	pid=$spawned
	code=$(curl -sk -m 5 -o /dev/null -w '%{http_code}' --resolve "bench.test:$port:127.0.0.1" \
		"https://bench.test:$port/")
	if [[ $code != 200 ]]; then
		say "$name: GET / over TLS answered '$code', not 200; skipping its TLS rows"
		note "$name" "TLS: GET / answered $code"
		stop "$pid"
		return
	fi
	tls_hs "$name" "$port" new
	hs_full[$name]=$HS_RATE
	tls_hs "$name" "$port" resume
	hs_res[$name]=$HS_RATE
	h2load_run "$name-h1" "$port" "$secs" --h1 -c64
	h1s[$name]=$H_RPS
	h2load_run "$name-h2" "$port" "$secs" -c64 -m10
	h2s[$name]=$H_RPS
	if [[ -n $H_RPS && $H_PROTO != h2 ]]; then
		note "$name" "HTTP/2 not offered (ALPN gave '${H_PROTO:-nothing}'): no h2 figure"
		h2s[$name]=
	fi
	say "$name: TLS ${hs_full[$name]:-?} full hs/s, ${hs_res[$name]:-?} resumed hs/s;" \
		"HTTPS h1 ${h1s[$name]:-?} req/s, h2 ${h2s[$name]:-?} req/s"
	stop "$pid" 10
	measure_tls_instr "$name" "$up"
	measure_tls_instr "$name" "$up" h2
}

# As measure_instr, over HTTPS keep-alive connections; MODE h2: HTTP/2
# requests, ten streams at a time on each connection.
measure_tls_instr() { # NAME UPSTREAM_PORT [MODE]
	local name=$1 up=$2 mode=${3:-h1} reqs=$cg_reqs port pid a b why= proto=(--h1)
	[[ $mode == h2 ]] && proto=(-m10)
	[[ $name == caddy ]] && reqs=$((cg_reqs / 4))
	port=$(free_port) || return
	start_tls_proxy "$name" "$port" "$up" valgrind --tool=callgrind \
		--callgrind-out-file="$work/cg.out.%p" || {
		note "$name" "TLS callgrind: it did not start under valgrind"
		return
	}
	pid=$spawned
	tls_cg_load() {
		run_fg timeout 600 h2load -t1 "${proto[@]}" -c "$cg_base" -n "$2" \
			--connect-to="127.0.0.1:$port" "https://bench.test:$port/" \
			>"$work/$name-tls-cg.out" 2>&1 &&
			grep -q "^requests: $2 total, $2 started, $2 done, $2 succeeded" \
				"$work/$name-tls-cg.out"
	}
	if ! tls_cg_load "$name" "$cg_base" || ! cg_dump "$pid" 1; then
		why="the warm-up failed"
	elif ! tls_cg_load "$name" "$cg_base" || ! cg_dump "$pid" 2; then
		why="the short batch failed"
	else
		a=$CG_IR
		if ! tls_cg_load "$name" "$reqs" || ! cg_dump "$pid" 3; then
			why="the long batch failed"
		fi
		b=$CG_IR
	fi
	stop "$pid" 10
	# BENCH_KEEP keeps them for callgrind_annotate: number 3 is the long batch
	[[ -n ${BENCH_KEEP:-} ]] || rm -f "$work"/cg.out.*
	if [[ -n $why ]]; then
		note "$name" "TLS callgrind ($mode): $why ($(tail -n 1 "$work/$name-tls-cg.out"))"
		return
	fi
	if [[ $mode == h2 ]]; then
		if ! grep -q '^Application protocol: h2' "$work/$name-tls-cg.out"; then
			note "$name" "TLS callgrind: HTTP/2 not offered, no h2 figure"
			return
		fi
		h2instr[$name]=$(((b - a) / (reqs - cg_base)))
		say "$name: TLS callgrind Ir $a for $cg_base HTTP/2 requests, $b for $reqs:" \
			"${h2instr[$name]} per request"
		return
	fi
	tinstr[$name]=$(((b - a) / (reqs - cg_base)))
	# what h2load negotiated: the rows compare like with like only if it is the same
	tcipher[$name]=$(awk '/^TLS Protocol:/ {p = $3} /^Cipher:/ {c = $2}
		END {if (p != "" || c != "") print p " " c}' "$work/$name-tls-cg.out")
	say "$name: TLS callgrind Ir $a for $cg_base requests, $b for $reqs:" \
		"${tinstr[$name]} per request (${tcipher[$name]:-cipher unknown})"
}

report_tls() {
	local name fmt
	fmt='%-26s %12s %12s %12s %12s %11s %11s\n'
	echo
	echo "HTTPS (TLS 1.3, ECDSA P-256, SNI bench.test): handshakes with $tls_threads client" \
		"threads for ${tls_secs}s each; h2load -c64 for ${secs}s (h2: -m10); callgrind over" \
		"$cg_base HTTPS keep-alive connections (h2: -m10 on each)"
	echo
	for name in "${names[@]}"; do
		[[ -n ${tcipher[$name]:-} ]] && echo "negotiated under callgrind: $(label "$name"): ${tcipher[$name]}"
	done
	echo
	# shellcheck disable=SC2059
	printf "$fmt" "" "full" "resumed" "HTTPS h1" "HTTP/2" "user instr" "user instr"
	# shellcheck disable=SC2059
	printf "$fmt" "" "hs/s" "hs/s" "req/s" "req/s" "per req" "per h2 req"
	for name in "${names[@]}"; do
		# shellcheck disable=SC2059
		printf "$fmt" "$(label "$name")" "${hs_full[$name]:--}" "${hs_res[$name]:--}" \
			"${h1s[$name]:--}" "${h2s[$name]:--}" "${tinstr[$name]:--}" "${h2instr[$name]:--}"
	done
	[[ -n ${vers[berth]:-} ]] || return 0
	echo
	echo "berth-proxy / peer (rates: higher is better; instructions: lower is better)"
	for name in "${names[@]}"; do
		[[ $name == berth ]] && continue
		# shellcheck disable=SC2059
		printf "$fmt" "vs $(label "$name")" "$(ratio "${hs_full[berth]:-}" "${hs_full[$name]:-}")" \
			"$(ratio "${hs_res[berth]:-}" "${hs_res[$name]:-}")" \
			"$(ratio "${h1s[berth]:-}" "${h1s[$name]:-}")" \
			"$(ratio "${h2s[berth]:-}" "${h2s[$name]:-}")" \
			"$(ratio "${tinstr[berth]:-}" "${tinstr[$name]:-}")" \
			"$(ratio "${h2instr[berth]:-}" "${h2instr[$name]:-}")"
	done
	echo
	echo "the bar (TLS):"
	if [[ -n ${hs_full[nginx]:-} && -n ${hs_full[berth]:-} ]]; then
		bar "full handshakes/s >= nginx" \
			"$(awk -v a="${hs_full[berth]}" -v b="${hs_full[nginx]}" 'BEGIN {print (a >= b)}')"
	fi
	if [[ -n ${h2s[nginx]:-} && -n ${h2s[berth]:-} ]]; then
		bar "HTTP/2 req/s >= 1.2x nginx" \
			"$(awk -v a="${h2s[berth]}" -v b="${h2s[nginx]}" 'BEGIN {print (a >= 1.2 * b)}')"
	fi
	if [[ -n ${tinstr[nginx]:-} && -n ${tinstr[berth]:-} ]]; then
		bar "instr per HTTPS request <= 0.7x nginx" \
			"$(awk -v a="${tinstr[berth]}" -v b="${tinstr[nginx]}" 'BEGIN {print (a <= 0.7 * b)}')"
	fi
}
