# Sourced by the berth-proxy tests (after lib.sh): the test app and the
# proxy run as plain processes on loopback, on ports the kernel picks (from
# the ephemeral range, above 20000), each stopped by the test's cleanup.
PROXY=$TOP/bin/berth-proxy
TESTAPP=$TOP/build/testapp
# Test bodies write their scratch files here.
cd "$TEST_TMP" || exit 1

# wait_for_line FILE REGEX: prints the first match, waiting up to 10 s for it.
wait_for_line() {
	local i
	for ((i = 0; i < 200; i++)); do
		if grep -m1 -oE -- "$2" "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "timed out waiting for /$2/ in $1:" >&2
	cat "$1" >&2
	return 1
}

# start_app NAME VERSION [ARGS...]: starts the test app; sets $NAME_port and $NAME_pid.
start_app() {
	local name=$1 version=$2 pid port
	shift 2
	"$TESTAPP" --port 0 --listen 127.0.0.1 --version "$version" "$@" \
		>"$TEST_TMP/$name.log" 2>&1 </dev/null &
	pid=$!
	test_cleanup "kill $pid"
	port=$(wait_for_line "$TEST_TMP/$name.log" 'listening on 127\.0\.0\.1:[0-9]+') || return 1
	printf -v "${name}_port" %s "${port##*:}"
	printf -v "${name}_pid" %s "$pid"
}

# start_proxy NAME [ARGS...]: starts berth-proxy run; sets $NAME_port and $NAME_pid.
start_proxy() {
	local name=$1 pid port
	shift
	"$PROXY" run --http-port 0 --listen 127.0.0.1 "$@" >"$TEST_TMP/$name.log" 2>&1 </dev/null &
	pid=$!
	test_cleanup "kill $pid"
	port=$(wait_for_line "$TEST_TMP/$name.log" 'listening on port [0-9]+') || return 1
	printf -v "${name}_port" %s "${port##* }"
	printf -v "${name}_pid" %s "$pid"
}

# raw_http PORT [SECONDS]: sends stdin as is over one connection and prints what comes back
# until the server closes (or SECONDS, default 5, pass). A last line "<<closed>>" says that
# the server closed the connection.
raw_http() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	cat >&$fd
	if timeout "${2:-5}" cat <&$fd; then
		printf '\n<<closed>>\n'
	fi
	exec {fd}<&-
}

# conns_to PORT: established TCP connections to 127.0.0.1:PORT.
conns_to() {
	ss -Htn state established "( dport = :$1 )" | wc -l
}

# app_requests NAME: how many requests the app has logged so far.
app_requests() {
	grep -cE '^[A-Z-]+ [^ ]+ [0-9]{3} ' "$TEST_TMP/$1.log" || true
}

# load_loop OUT URL...: until $TEST_TMP/stop exists (at most 300 rounds), fetches the URLs
# with one curl (keep-alive between them), appending "body" and "|code" lines to OUT, and a
# line "curl-failed N" when curl itself failed.
load_loop() {
	local out=$1 i rc
	shift
	for ((i = 0; i < 300; i++)); do
		[[ -e $TEST_TMP/stop ]] && break
		curl -s --max-time 20 -w '|%{http_code}\n' "$@" >>"$out" 2>/dev/null
		rc=$?
		if ((rc != 0)); then
			echo "curl-failed $rc" >>"$out"
		fi
	done
}

# check_load OUT VERSIONS_REGEX: every request of OUT succeeded, from one of the versions.
check_load() {
	local out=$1 want=$2 n
	n=$(grep -c '^|' "$out" || true)
	echo "$n responses in $out"
	if grep -q '^curl-failed' "$out"; then
		echo "failed requests:"
		grep '^curl-failed' "$out"
		return 1
	fi
	if grep '^|' "$out" | grep -v '^|200$' | sort | uniq -c | grep .; then
		echo "responses other than 200"
		return 1
	fi
	if grep -v '^|' "$out" | grep -vE "version=($want)( |$)" | grep .; then
		echo "responses from versions other than $want"
		return 1
	fi
	((n > 0))
}

# stop_pid PID: SIGTERM, then waits (up to 5 s) until the process is gone.
stop_pid() {
	local i
	kill "$1" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# free_ports N: prints N loopback ports free now (for servers such as pebble that want
# numbers in their config), drawn at random from below the kernel's range of ephemeral
# ports: a port the kernel hands out may be given to any test's outgoing connection
# before the server that was to listen on it starts.
free_ports() {
	python3 -c '
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports, ss = [], []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(max(1024, lo - 12000), lo)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    ss.append(s)
    ports.append(p)
print(*ports)
' "$1"
}

# start_acme_dns IPV4 DNS_PORT MGMT_PORT: makes pebble's TLS certificate for
# 127.0.0.1 (pebble-cert.pem, pebble-key.pem) and starts pebble-challtestsrv,
# the DNS server pebble asks, answering IPV4 for every name, until the test ends.
start_acme_dns() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=pebble -addext subjectAltName=IP:127.0.0.1 -keyout pebble-key.pem \
		-out pebble-cert.pem 2>/dev/null || return 1
	pebble-challtestsrv -defaultIPv4 "$1" -defaultIPv6 "" -dns01 "127.0.0.1:$2" \
		-management "127.0.0.1:$3" -http01 "" -https01 "" -tlsalpn01 "" \
		>challtestsrv.log 2>&1 </dev/null &
	test_cleanup "kill $!"
	wait_for_line challtestsrv.log 'management' >/dev/null
}
