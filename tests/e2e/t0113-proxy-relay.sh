#!/usr/bin/env bash
# berth-proxy's relay under clients and upstreams that misbehave: a client
# that stops reading or sending, an upstream that stalls or closes a pooled
# connection after reading a request, running out of descriptors, and the
# memory that idle keep-alive connections keep.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

# The misbehaving upstream and the clients that the shell cannot be.
cat >"$TEST_TMP/relay.py" <<'EOF'
import os, socket, sys, threading, time

def read_request(f):
    """The request line and the body of the next request on f, or None at the end."""
    line = f.readline()
    if not line:
        return None
    length = 0
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = f.read(length) if length else b""
    return line.split()[:2], body

def upstream(mode, log):
    """Answers the first request of each connection; then, by mode:
    close-after-read: reads the next request, logs it and closes without an answer;
    stall: (first request) sends a head announcing 1 MB and 1000 bytes, then nothing."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    print("listening on 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
    out = open(log, "a", buffering=1)

    def serve(c):
        f = c.makefile("rb")
        req = read_request(f)
        if req:
            out.write("%s %s\n" % (req[0][0].decode(), req[0][1].decode()))
            if mode == "stall" and req[0][1] != b"/up":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
                time.sleep(30)
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                req = read_request(f)
                if req:
                    out.write("%s %s\n" % (req[0][0].decode(), req[0][1].decode()))
        c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

def connect(port):
    return socket.create_connection(("127.0.0.1", port))

def answer(s, wait):
    """The status line of the answer on s, 'closed', or 'none' after wait seconds."""
    s.settimeout(wait)
    try:
        data = s.recv(65536)
    except socket.timeout:
        return "none"
    except OSError:
        return "closed"
    return data.split(b"\r\n")[0].decode() if data else "closed"

def unread(port, host, path):
    """Asks for path and reads nothing for 4 s; then reads all: the bytes, and how it ended."""
    s = connect(port)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
    time.sleep(4)
    n, end = 0, "eof"
    s.settimeout(10)
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            n += len(d)
    except socket.timeout:
        end = "still-open"
    except OSError:
        end = "reset"
    print(n, end)

def slow_read(port, host, path, chunk, gap_ms):
    """Asks for path (HTTP/1.0: the end of the data closes) and reads chunk bytes every
    gap_ms: the bytes, and how it ended."""
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, chunk)
    s.sendall(b"GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
    n, end = 0, "eof"
    s.settimeout(10)
    try:
        while True:
            time.sleep(gap_ms / 1000)
            d = s.recv(chunk)
            if not d:
                break
            n += len(d)
    except socket.timeout:
        end = "still-open"
    except OSError:
        end = "reset"
    print(n, end)

def upload(port, host, pieces, gap_ms):
    """A POST /echo whose body comes in pieces of 1000 bytes, gap_ms apart."""
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
              % (host.encode(), pieces * 1000))
    for i in range(pieces):
        time.sleep(gap_ms / 1000)
        try:
            s.sendall(b"y" * 1000)
        except OSError:
            break
    print(answer(s, 10))

def stalled_upload(port, host):
    """A POST whose body stops after 10 of 100 bytes."""
    s = connect(port)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n"
              % host.encode() + b"z" * 10)
    print(answer(s, 10))

def exhaust(port):
    """Opens keep-alive connections, each with one request answered, until one gets no
    answer (the proxy is out of descriptors); closes ten answered ones, and says what the
    waiting one got then, with no other connection made."""
    held, waiting = [], None
    req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    for i in range(500):
        s = connect(port)
        s.sendall(req)
        a = answer(s, 1.5)
        if a == "none":
            waiting = s
            break
        if not a.startswith("HTTP/1.1 200"):
            print("connection %d: %s" % (i, a))
            return
        held.append(s)
    if not waiting:
        print("never ran out of descriptors")
        return
    print("held", len(held))
    for s in held[:10]:
        s.close()
    print("waiting:", answer(waiting, 5))

def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))

def burst(port, pid, n, path):
    """n requests for path at once, on n connections, each closed once answered: how many
    got each status. No request is sent before the proxy (pid) has accepted all n
    connections, or every one it had descriptors for (read in /proc), so the requests, not
    the connections, find the descriptors gone, however fast the proxy is next to this
    client."""
    limit = int(open("/proc/%d/limits" % pid).read().split("Max open files")[1].split()[0])
    before = nfds(pid)
    conns = [connect(port) for i in range(n)]
    want = min(before + n, limit)
    for i in range(200):
        if nfds(pid) >= want:
            break
        time.sleep(0.05)
    print("descriptors: %d before, %d of %d with the connections" % (before, nfds(pid), limit),
          file=sys.stderr)
    for s in conns:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
    seen = {}
    for s in conns:
        a = answer(s, 10)
        s.close()
        seen[a] = seen.get(a, 0) + 1
    for a in sorted(seen):
        print(seen[a], a)

globals()[sys.argv[1]](*[int(a) if a.isdigit() else a for a in sys.argv[2:]])
EOF
relay() { python3 "$TEST_TMP/relay.py" "$@"; }

# start_upstream NAME MODE: the misbehaving upstream; sets $NAME_port, logs to NAME.log.
start_upstream() {
	python3 "$TEST_TMP/relay.py" upstream "$2" "$TEST_TMP/$1.req" >"$TEST_TMP/$1.log" 2>&1 </dev/null &
	test_cleanup "kill $!"
	local port
	port=$(wait_for_line "$TEST_TMP/$1.log" 'listening on 127\.0\.0\.1:[0-9]+') || return 1
	printf -v "$1_port" %s "${port##*:}"
}

# metric NAME_AND_LABELS: its value in the proxy's metrics (0 when absent).
metric() {
	curl -sf "$M" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}'
}

start_app big v1 || exit 1
start_app app v1 || exit 1
start_upstream stall stall || exit 1
start_upstream again close-after-read || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 1 --state-dir "$TEST_TMP/state" --http-read-timeout 1s \
	--metrics-port 0 || exit 1
P=http://127.0.0.1:$px_port
M=http://127.0.0.1:$(wait_for_line px.log 'metrics on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')/metrics
"$PROXY" deploy big --host big.test --target 127.0.0.1:$big_port --client-timeout 1s >/dev/null ||
	exit 1
"$PROXY" deploy app --host app.test --target 127.0.0.1:$app_port --target-timeout 1s >/dev/null ||
	exit 1
"$PROXY" deploy stall --host stall.test --target 127.0.0.1:$stall_port --target-timeout 1s \
	>/dev/null || exit 1
"$PROXY" deploy again --host again.test --target 127.0.0.1:$again_port >/dev/null || exit 1
# A proxy with few descriptors.
printf '#!/bin/sh\nulimit -n 64 && exec %s "$@"\n' "$TOP/bin/berth-proxy" >"$TEST_TMP/lowfd"
chmod +x "$TEST_TMP/lowfd"
PROXY=$TEST_TMP/lowfd start_proxy low --workers 1 --state-dir "$TEST_TMP/state-low" \
	--socket "$TEST_TMP/low.sock" --target 127.0.0.1:$app_port || exit 1

test_expect_success 'deploy --client-timeout is kept in the state and shown by list' '
	"$PROXY" list --json >list &&
	python3 -c "import json,sys; s={x[\"name\"]: x for x in json.load(open(\"list\"))};
assert s[\"big\"][\"client_timeout_ms\"] == 1000, s[\"big\"];
assert s[\"app\"][\"client_timeout_ms\"] == 60000, s[\"app\"]" &&
	grep -q "\"client_timeout_ms\": *1000" state/berth-proxy.json
'

test_expect_success 'a client that reads nothing of a big response is closed, and the app freed' '
	kind="service=\"big\",kind=\"client_write\"" &&
	before=$(metric "berth_proxy_timeouts_total{$kind}") &&
	relay unread $px_port big.test "/stream?bytes=20000000" >out &&
	cat out &&
	read -r n end <out &&
	test "$n" -lt 20000000 && test "$end" != still-open &&
	test "$(metric "berth_proxy_timeouts_total{$kind}")" = $((before + 1)) &&
	for i in $(seq 100); do test "$(conns_to $big_port)" = 0 && break; sleep 0.05; done &&
	test "$(conns_to $big_port)" = 0
'

test_expect_success 'a client that reads slowly but steadily is not cut by --client-timeout' '
	relay slow_read $px_port big.test "/stream?bytes=3000000" 65536 40 >out &&
	cat out &&
	read -r n end <out &&
	test "$n" -gt 3000000 && test "$end" = eof
'

test_expect_success 'an upstream that stalls mid-body is closed after --target-timeout' '
	kind="service=\"stall\",kind=\"upstream_read\"" &&
	before=$(metric "berth_proxy_timeouts_total{$kind}") &&
	rc=0 && curl -s -o body --max-time 8 -H "Host: stall.test" $P/ || rc=$? &&
	echo "curl: $rc" &&
	test $rc = 18 &&
	test "$(wc -c <body)" = 1000 &&
	test "$(metric "berth_proxy_timeouts_total{$kind}")" = $((before + 1))
'

test_expect_success 'a slow upload is not cut by --target-timeout' '
	relay upload $px_port app.test 6 300 >out &&
	cat out &&
	grep -qx "HTTP/1.1 200 OK" out
'

test_expect_success 'a client that stops sending its body gets 408 after the read timeout' '
	kind="service=\"app\",kind=\"client_read\"" &&
	before=$(metric "berth_proxy_timeouts_total{$kind}") &&
	relay stalled_upload $px_port app.test >out &&
	cat out &&
	grep -q "^HTTP/1.1 408 " out &&
	test "$(metric "berth_proxy_timeouts_total{$kind}")" = $((before + 1))
'

test_expect_success 'a POST whose pooled connection closes after reading it is not sent again' '
	curl -sf -H "Host: again.test" $P/first >out &&
	grep -qx ok out &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "Host: again.test" \
		--data-binary hello $P/post-once) &&
	echo "POST: $code" &&
	sleep 0.3 && cat again.req &&
	test "$code" = 502 &&
	test "$(grep -c "^POST /post-once$" again.req)" = 1
'

test_expect_success 'a GET in the same case is sent again, on a new connection' '
	curl -sf -H "Host: again.test" $P/first-2 >out &&
	grep -qx ok out &&
	curl -sf -H "Host: again.test" $P/get-again >out &&
	grep -qx ok out &&
	test "$(grep -c "^GET /get-again$" again.req)" = 2
'

test_expect_success 'clients queued while descriptors ran out are served when some close' '
	relay exhaust $low_port >out &&
	cat out &&
	grep -q "^held [0-9]" out &&
	grep -qx "waiting: HTTP/1.1 200 OK" out &&
	curl -sf http://127.0.0.1:$low_port/ | grep -q version=v1
'

test_expect_success 'a request that finds no descriptor for its upstream gets 503, not 502' '
	relay burst $low_port $low_pid 40 "/slow?ms=1500" >out 2>err &&
	cat err out &&
	grep -q " HTTP/1.1 503 Service Unavailable$" out &&
	! grep -v -e " HTTP/1.1 200 OK$" -e " HTTP/1.1 503 Service Unavailable$" out &&
	curl -sf http://127.0.0.1:$low_port/ | grep -q version=v1
'

test_expect_success 'idle keep-alive connections that each served a request cost little memory' '
	gcc -std=c11 -D_GNU_SOURCE -I"$TOP" -O2 -o client "$TOP/bench/proxy/client.c" &&
	start_proxy mem --workers 1 --state-dir "$TEST_TMP/state-mem" \
		--socket "$TEST_TMP/mem.sock" --target 127.0.0.1:$app_port &&
	curl -sf http://127.0.0.1:$mem_port/ >/dev/null &&
	before=$(awk "/^VmRSS:/ {print \$2}" /proc/$mem_pid/status)
	./client idle $mem_port 2000 2000 60 >idle.out 2>&1 &
	cpid=$!
	for i in $(seq 600); do grep -qE "^(ready|not ready)" idle.out && break; sleep 0.1; done &&
	cat idle.out &&
	grep -qx "ready 2000 errors 0" idle.out &&
	sleep 2.5 &&
	after=$(awk "/^VmRSS:/ {print \$2}" /proc/$mem_pid/status) &&
	kill $cpid &&
	echo "VmRSS $before kB -> $after kB: $(((after - before) * 1024 / 2000)) B per connection" &&
	test $(((after - before) * 1024 / 2000)) -lt 2048
'

test_expect_success 'the proxy survived all of the above' '
	kill -0 $px_pid &&
	curl -sf -H "Host: app.test" $P/ | grep -q version=v1
'

test_done
