#!/usr/bin/env bash
# berthd's panel pages without a lab: `berthd serve --http` on loopback with
# a state of its own. Before set-up every page answers 403 pointing at the
# set-up link; the link `berthd panel:setup-link` prints makes the first
# admin, who logs in with curl; each page then answers with its security
# headers and the ids panel.js and the browser test use, names and versions
# escaped and no config value anywhere; without a session (or with only an
# API token) a page is 303 to /login; a viewer's app page has no change
# control; the assets come with their types and a year's immutable cache.
# The server's API and sections: the dashboard's Host section shows the
# verdicts of a doctor.json written here (details escaped), a check asked for
# runs in the background (berthd serve's own schedule is off; no dockerd for
# it: the report says so), the root domain and SSH keys change through
# /api/v1/server with their checks, admins only, CSRF, audit events.
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND BERTHD_PANEL_ROUTE
PW="correct horse $T battery"
SECRET="s3cret-$T-value"
ORIGIN=https://berth.$T.test

bd() { "$BERTHD" "$@"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
B=http://127.0.0.1:$PORT
# no schedule of doctor's checks; one asked for finds no dockerd (none at that socket)
DOCKER_HOST=unix://$TEST_TMP/no-docker.sock \
	"$BERTHD" serve --http "127.0.0.1:$PORT" --doctor-interval off >"$TEST_TMP/serve.log" 2>&1 &
SERVE=$!
test_cleanup "kill $SERVE"

# get PATH [curl args...]: prints the status; the head in get.head, the body in get.out
get() {
	local p=$1
	shift
	curl -s --max-time 10 -D "$TEST_TMP/get.head" -o "$TEST_TMP/get.out" -w '%{http_code}' \
		"$@" "$B$p"
}
# has_header NAME VALUE: the last answer has this header line, exactly
has_header() {
	if ! tr -d '\r' <"$TEST_TMP/get.head" | grep -qixF "$1: $2"; then
		echo "expected '$1: $2' in:"
		cat "$TEST_TMP/get.head"
		return 1
	fi
}
# login NAME JAR: prints the status of POST /api/v1/login; the session in JAR
login() {
	printf '{"name":"%s","password":"%s"}' "$1" "$PW" |
		curl -s --max-time 10 -c "$2" -o "$TEST_TMP/login.out" -w '%{http_code}' \
			-H 'Content-Type: application/json' --data-binary @- "$B/api/v1/login"
}
# change JAR METHOD PATH [JSON]: a change by the session in JAR, with its CSRF
# token (from GET /api/v1/me) and the panel's Origin; prints the status
change() {
	local jar=$1 m=$2 p=$3 tok
	get /api/v1/me -b "$jar" >/dev/null
	tok=$(jq -r .csrf_token "$TEST_TMP/get.out")
	curl -s --max-time 10 -b "$jar" -o "$TEST_TMP/change.out" -w '%{http_code}' -X "$m" \
		-H "X-CSRF-Token: $tok" -H "Origin: $ORIGIN" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "$B$p"
}
# page_ok: the last answer is a panel page: HTML, its headers, no inline script or style
page_ok() {
	has_header Content-Type "text/html; charset=utf-8" &&
	has_header Content-Security-Policy "default-src 'self'; frame-ancestors 'none'" &&
	has_header X-Content-Type-Options nosniff &&
	has_header Referrer-Policy same-origin &&
	has_header Cache-Control no-store &&
	grep_q "$TEST_TMP/get.out" '<html lang="en">' &&
	grep_q "$TEST_TMP/get.out" '<title>[^<]+</title>' &&
	grep_q "$TEST_TMP/get.out" '<meta name="csrf-token" content="[^"]*">' &&
	! grep -E '<script>|<script [^>]*>[^<]|<style| style=| on[a-z]+=' "$TEST_TMP/get.out"
}
# sql STATEMENT: runs it on berthd's store (python3's sqlite3: no CLI needed)
sql() {
	python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute(sys.argv[2]); c.commit()' \
		"$BERTHD_STATE_DIR/berthd.db" "$1"
}

test_expect_success 'berthd serves on loopback' '
	for i in $(seq 100); do
		test "$(get /up)" = 200 && break
		sleep 0.1
	done &&
	test "$(get /up)" = 200
'

test_expect_success 'serve refuses a doctor interval out of bounds, saying so' '
	for v in 5 86401 10m; do
		rc=0 && "$BERTHD" serve --http off --doctor-interval $v >out 2>&1 || rc=$?
		cat out && test $rc = 2 && grep -q "from 10 to 86400, got .$v." out || exit 1
	done
'

test_expect_success 'before set-up, the pages answer 403 pointing at the set-up link' '
	for p in / /login /settings /apps/shop; do
		test "$(get $p)" = 403 &&
		grep_q "$TEST_TMP/get.out" "panel:setup-link" || exit 1
	done &&
	test "$(get /assets/panel.css)" = 200
'

test_expect_success 'the set-up link makes the first admin, who logs in' '
	bd domains:set-global $T.test >/dev/null &&
	url=$(bd panel:setup-link | tail -n 1) &&
	tok=${url#*token=} &&
	test "$(get /setup -H "Content-Type: application/json" \
		--data-binary "{\"token\":\"$tok\",\"name\":\"admin\",\"password\":\"$PW\"}")" = 201 &&
	test "$(login admin "$TEST_TMP/admin.jar")" = 200 &&
	grep -q berth_session "$TEST_TMP/admin.jar"
'

test_expect_success 'setup: apps, a secret, a release with an odd version, a viewer, a token' '
	bd apps:create shop >/dev/null &&
	bd apps:create blog >/dev/null &&
	bd config:set --no-restart shop "SECRET_KEY=$SECRET" >/dev/null &&
	bd domains:add shop shop.$T.test >/dev/null &&
	sql "INSERT INTO releases (app, version, image, time, status) VALUES
		(\"shop\", \"v1<script>alert(1)</script>\", \"img&<i>\", 1, \"deployed\"),
		(\"shop\", \"v2\", \"shop:v2\", 2, \"deployed\")" &&
	sql "INSERT INTO apps (name, created) VALUES (\"x<b>&y\", 1)" &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/users \
		"{\"name\":\"vic\",\"password\":\"$PW\",\"apps\":{\"shop\":\"viewer\"}}")" = 201 &&
	test "$(login vic "$TEST_TMP/vic.jar")" = 200 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/tokens "{\"name\":\"ci\"}")" = 201 &&
	jq -r .token "$TEST_TMP/change.out" >"$TEST_TMP/api-token"
'

test_expect_success 'without a session every page is 303 to /login, an API token too' '
	for p in / /apps/shop /apps/nope /settings; do
		test "$(get $p)" = 303 && has_header Location /login &&
		has_header Content-Security-Policy "default-src '\''self'\''; frame-ancestors '\''none'\''" &&
		test "$(get $p -H "Authorization: Bearer $(cat "$TEST_TMP/api-token")")" = 303 &&
		has_header Location /login &&
		test "$(get $p -H "Cookie: berth_session=0123")" = 303 || exit 1
	done
'

test_expect_success 'the login page: the form, the hidden OTP row, the error line' '
	test "$(get /login)" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<form id=\"login\"" &&
	grep_q "$TEST_TMP/get.out" "<label for=\"name\">" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"password\" name=\"password\" type=\"password\"" &&
	grep_q "$TEST_TMP/get.out" "<p class=\"field\" id=\"otp-row\" hidden><label for=\"otp\">" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"otp\" name=\"otp\" inputmode=\"numeric\"" &&
	grep_q "$TEST_TMP/get.out" "<button type=\"submit\" id=\"login-submit\">" &&
	grep_q "$TEST_TMP/get.out" "<p id=\"login-error\" class=\"error\" role=\"alert\">" &&
	test "$(get /login -b "$TEST_TMP/admin.jar")" = 303 && has_header Location /
'

test_expect_success 'the dashboard lists the apps, their names escaped' '
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"dashboard\">" &&
	grep_q "$TEST_TMP/get.out" "<table id=\"apps\"" &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"shop\"><td data-label=\"App\"><a href=\"/apps/shop\">shop</a>" &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"blog\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"x&lt;b&gt;&amp;y\">" &&
	! grep -q "<b>" "$TEST_TMP/get.out" &&
	grep_q "$TEST_TMP/get.out" "<a id=\"nav-settings\" href=\"/settings\">" &&
	grep_q "$TEST_TMP/get.out" "<button id=\"logout\" type=\"button\">" &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 200 &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"shop\">" &&
	! grep -q "data-app=\"blog\"" "$TEST_TMP/get.out"
'

test_expect_success 'an app page: versions escaped, env names only, domains, deploy, job log' '
	test "$(get /apps/shop -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"app\" data-app=\"shop\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-version=\"v2\" class=\"current\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-version=\"v1&lt;script&gt;alert\\(1\\)&lt;/script&gt;\">" &&
	grep_q "$TEST_TMP/get.out" "class=\"rollback\" data-version=\"v1&lt;script&gt;" &&
	! grep -q "class=\"rollback\" data-version=\"v2\"" "$TEST_TMP/get.out" &&
	grep_q "$TEST_TMP/get.out" "img&amp;&lt;i&gt;" &&
	! grep -q "<script>alert" "$TEST_TMP/get.out" &&
	grep_q "$TEST_TMP/get.out" "<li data-key=\"SECRET_KEY\">" &&
	grep_q "$TEST_TMP/get.out" "<li data-domain=\"shop.$T.test\">" &&
	for id in env-form env-key env-save domain-form domain domain-add https deploy-form \
		deploy-file deploy-image deploy-submit job-state; do
		grep_q "$TEST_TMP/get.out" "id=\"$id\"" || exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<input id=\"env-value\" name=\"value\" type=\"password\"" &&
	grep_q "$TEST_TMP/get.out" "<input type=\"checkbox\" id=\"https\">" &&
	grep_q "$TEST_TMP/get.out" "type=\"file\" accept=\".tar,.tar.gz,.tgz\"" &&
	grep_q "$TEST_TMP/get.out" "<pre id=\"job-log\" aria-live=\"polite\"" &&
	for id in $(grep -o "<input id=\"[^\"]*\"" "$TEST_TMP/get.out" | cut -d\" -f2); do
		grep_q "$TEST_TMP/get.out" "<label for=\"$id\">" || exit 1
	done
'

test_expect_success 'no page ever shows a config value' '
	for jar in admin vic; do
		for p in / /apps/shop /settings /login; do
			get $p -b "$TEST_TMP/$jar.jar" >/dev/null &&
			! grep -q "$SECRET" "$TEST_TMP/get.out" || exit 1
		done
	done
'

test_expect_success 'a viewer sees the app with every change control absent' '
	test "$(get /apps/shop -b "$TEST_TMP/vic.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"app\" data-app=\"shop\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-version=\"v2\" class=\"current\">" &&
	grep_q "$TEST_TMP/get.out" "<li data-key=\"SECRET_KEY\">" &&
	# the logs section is for every reader (a search changes nothing): the rest has no control
	sed "/<section id=\"logs\"/,/<\/section>/d" "$TEST_TMP/get.out" >"$TEST_TMP/nologs.out" &&
	grep_q "$TEST_TMP/get.out" "<form id=\"logs-form\" role=\"search\">" &&
	! grep -E "<form|<button type=|id=\"https\"|class=\"(rollback|env-unset|domain-remove)\"" \
		"$TEST_TMP/nologs.out" &&
	test "$(get /apps/blog -b "$TEST_TMP/vic.jar")" = 404 && page_ok &&
	cp "$TEST_TMP/get.out" "$TEST_TMP/blog.out" &&
	test "$(get /apps/nope -b "$TEST_TMP/vic.jar")" = 404 &&
	cmp "$TEST_TMP/blog.out" "$TEST_TMP/get.out"
'

test_expect_success 'settings: 2FA, password, tokens; users for an admin only' '
	test "$(get /settings -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	for id in twofa totp-begin totp-code totp-confirm recovery-codes password tokens users; do
		grep_q "$TEST_TMP/get.out" "id=\"$id\"" || exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<tr data-user=\"vic\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-token=\"ci\">" &&
	! grep -q "$(cat "$TEST_TMP/api-token")" "$TEST_TMP/get.out" &&
	test "$(get /settings -b "$TEST_TMP/vic.jar")" = 200 &&
	grep_q "$TEST_TMP/get.out" "id=\"twofa\"" &&
	! grep -q "id=\"users\"" "$TEST_TMP/get.out"
'

test_expect_success 'the assets: their types, immutable, the versions the pages link' '
	get / -b "$TEST_TMP/admin.jar" >/dev/null &&
	css=$(grep -o "/assets/panel.css?v=[0-9a-f]*" "$TEST_TMP/get.out") &&
	js=$(grep -o "/assets/panel.js?v=[0-9a-f]*" "$TEST_TMP/get.out") &&
	icon=$(grep -o "/assets/favicon.svg?v=[0-9a-f]*" "$TEST_TMP/get.out") &&
	test "$(get "$css")" = 200 &&
	has_header Content-Type "text/css; charset=utf-8" &&
	has_header Cache-Control "public, max-age=31536000, immutable" &&
	has_header X-Content-Type-Options nosniff &&
	cmp "$TEST_TMP/get.out" "$TOP/web/panel.css" &&
	test "$(get "$js")" = 200 &&
	has_header Content-Type "text/javascript; charset=utf-8" &&
	has_header Cache-Control "public, max-age=31536000, immutable" &&
	cmp "$TEST_TMP/get.out" "$TOP/web/panel.js" &&
	test "$(get "$icon")" = 200 &&
	has_header Content-Type "image/svg+xml" &&
	cmp "$TEST_TMP/get.out" "$TOP/web/favicon.svg" &&
	test "$(get /assets/nope.js)" = 404
'

test_expect_success 'the dashboard: no check of the host yet, then the verdicts of doctor.json' '
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<section id=\"host\"" &&
	grep_q "$TEST_TMP/get.out" "<p id=\"host-checked\">Not checked yet.</p>" &&
	grep_q "$TEST_TMP/get.out" "<button type=\"button\" id=\"host-check\">Check now</button>" &&
	test "$(get /api/v1/server -b "$TEST_TMP/admin.jar")" = 200 &&
	test "$(jq -r .doctor "$TEST_TMP/get.out")" = null &&
	cat >"$BERTHD_STATE_DIR/doctor.json" <<-\EOF &&
	{"checked_at": "2026-01-02T03:04:05Z", "host": "h", "status": "fail", "checks": [
	 {"name": "disk", "status": "fail", "detail": "/ 3% free <b>&amp; low</b>"},
	 {"name": "memory", "status": "warn", "detail": "low headroom"},
	 {"name": "load", "status": "ok", "detail": "0.1"},
	 {"name": "odd", "status": "bad", "detail": "left out"}]}
	EOF
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "Checked at <time datetime=\"2026-01-02T03:04:05Z\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-check=\"disk\"><td data-label=\"Check\">disk</td><td data-label=\"Verdict\" class=\"verdict-fail\">fail</td>" &&
	grep_q "$TEST_TMP/get.out" "/ 3% free &lt;b&gt;&amp;amp; low&lt;/b&gt;" &&
	grep_q "$TEST_TMP/get.out" "class=\"verdict-warn\">warn</td>" &&
	grep_q "$TEST_TMP/get.out" "class=\"verdict-ok\">ok</td>" &&
	! grep -q "<b>&amp; low" "$TEST_TMP/get.out" &&
	! grep -q "data-check=\"odd\"" "$TEST_TMP/get.out" &&
	test "$(get /api/v1/server -b "$TEST_TMP/admin.jar")" = 200 &&
	test "$(jq -r .domain "$TEST_TMP/get.out")" = "$T.test" &&
	test "$(jq -r .doctor.checked_at "$TEST_TMP/get.out")" = 2026-01-02T03:04:05Z &&
	test "$(jq -r "[.doctor.checks[].status] | join(\",\")" "$TEST_TMP/get.out")" = fail,warn,ok &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 200 &&
	! grep -q "id=\"host\"" "$TEST_TMP/get.out" &&
	test "$(get /api/v1/server -b "$TEST_TMP/vic.jar")" = 403 &&
	# an API token of the admin is the admin (an app token would not be)
	test "$(get /api/v1/server -H "Authorization: Bearer $(cat "$TEST_TMP/api-token")")" = 200
'

test_expect_success 'a check of the host asked for runs in the background and writes doctor.json' '
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/server/doctor "{}")" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -b "$TEST_TMP/admin.jar" -X POST \
		-H "Origin: $ORIGIN" -H "Content-Type: application/json" --data-binary "{}" \
		"$B/api/v1/server/doctor")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/doctor "{}")" = 202 &&
	test "$(jq -r .checked_at "$TEST_TMP/change.out")" = 2026-01-02T03:04:05Z &&
	for i in $(seq 120); do
		get /api/v1/server -b "$TEST_TMP/admin.jar" >/dev/null &&
		test "$(jq -r .doctor.checked_at "$TEST_TMP/get.out")" != 2026-01-02T03:04:05Z && break
		sleep 0.5
	done &&
	jq -e ".doctor.checked_at | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$\")" "$TEST_TMP/get.out" &&
	jq -e ".doctor.status == \"fail\" and (.doctor.checks | length) > 0" "$TEST_TMP/get.out" &&
	jq -e "[.doctor.checks[] | (.name | type) == \"string\" and (.detail | type) == \"string\"
		and (.status | IN(\"ok\", \"warn\", \"fail\"))] | all" "$TEST_TMP/get.out" &&
	test "$(stat -c %a "$BERTHD_STATE_DIR/doctor.json")" = 644 &&
	bd events | grep -q "panel:doctor"
'

test_expect_success 'settings: the root domain and the SSH keys, editable by an admin' '
	test "$(get /settings -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	for id in server root-domain-form root-domain key-form key-name key-text key-admin \
		grant-form grant-key grant-app grant-right ssh-keys; do
		grep_q "$TEST_TMP/get.out" "id=\"$id\"" || exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<input id=\"root-domain\" required [^>]*value=\"$T.test\">" &&
	grep_q "$TEST_TMP/get.out" "reached as APP.DOMAIN from their next deploy" &&
	grep_q "$TEST_TMP/get.out" "<td colspan=\"4\">No SSH keys.</td>" &&
	for id in $(grep -o "<input id=\"[^\"]*\"" "$TEST_TMP/get.out" | cut -d\" -f2); do
		grep_q "$TEST_TMP/get.out" "<label for=\"$id\">" || exit 1
	done &&
	test "$(get /settings -b "$TEST_TMP/vic.jar")" = 200 &&
	! grep -q "id=\"server\"" "$TEST_TMP/get.out"
'

test_expect_success 'the root domain through the API: checked, admins only, CSRF, an event' '
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":\"bad domain\"}")" = 400 &&
	grep_q "$TEST_TMP/change.out" "invalid domain" &&
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":\"*.x.test\"}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":7}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "[]")" = 400 &&
	test "$(change "$TEST_TMP/vic.jar" PUT /api/v1/server/domain "{\"domain\":\"v.test\"}")" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -b "$TEST_TMP/admin.jar" -X PUT \
		-H "Origin: $ORIGIN" -H "Content-Type: application/json" \
		--data-binary "{\"domain\":\"v.test\"}" "$B/api/v1/server/domain")" = 403 &&
	test "$(bd domains:report --global --format json 2>/dev/null | jq -r .global_vhost 2>/dev/null ||
		get /api/v1/server -b "$TEST_TMP/admin.jar" >/dev/null; jq -r .domain "$TEST_TMP/get.out")" = "$T.test" &&
	# the same domain again, in capitals: lowercased, set; the panel stays reachable
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":\"${T^^}.TEST\"}")" = 200 &&
	test "$(jq -r .domain "$TEST_TMP/change.out")" = "$T.test" &&
	test "$(jq -r .panel "$TEST_TMP/change.out")" = "https://berth.$T.test/" &&
	jq -r .note "$TEST_TMP/change.out" | grep -q "APP.$T.test from their next deploy" &&
	bd events | grep "panel:domains:set-global" | grep -q "user:admin.*$T.test from 127.0.0.1"
'

test_expect_success 'SSH keys through the API: added, granted, revoked, removed; checked' '
	rm -f "$TEST_TMP/k" "$TEST_TMP/k.pub" &&
	ssh-keygen -q -t ed25519 -N "" -C "me@laptop" -f "$TEST_TMP/k" &&
	fp=$(ssh-keygen -l -f "$TEST_TMP/k.pub" | cut -d" " -f2) &&
	key=$(cat "$TEST_TMP/k.pub") &&
	body=$(jq -nc --arg k "$key" "{name: \"laptop@$T\", key: \$k}") &&
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/server/keys "$body")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x\"}")" = 400 &&
	grep_q "$TEST_TMP/change.out" "key: expected one public key" &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x y\",\"key\":\"$key\"}")" = 400 &&
	grep_q "$TEST_TMP/change.out" "invalid key name" &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x\",\"key\":\"ssh-ed25519 AAAA\"}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x\",\"key\":\"$key\",\"admin\":1}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "$body")" = 201 &&
	test "$(jq -r .fingerprint "$TEST_TMP/change.out")" = "$fp" &&
	test "$(jq -r .admin "$TEST_TMP/change.out")" = false &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "$body")" = 409 &&
	grep -q "$(cut -d" " -f2 "$TEST_TMP/k.pub") laptop@$T" "$BERTHD_STATE_DIR/ssh/authorized_keys" &&
	test "$(change "$TEST_TMP/admin.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"shop\",\"right\":\"all\"}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"nope\",\"right\":\"read\"}")" = 404 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys/nokey/grants "{\"app\":\"shop\",\"right\":\"read\"}")" = 404 &&
	test "$(change "$TEST_TMP/vic.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"shop\",\"right\":\"deploy\"}")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"shop\",\"right\":\"deploy\"}")" = 200 &&
	bd ssh-keys:list --format json | jq -e ".[] | select(.name == \"laptop@$T\") | .rights.shop == \"deploy\"" &&
	test "$(get /api/v1/server -b "$TEST_TMP/admin.jar")" = 200 &&
	jq -e ".keys[] | select(.name == \"laptop@$T\") | .fingerprint == \"$fp\" and .rights.shop == \"deploy\" and .admin == false" "$TEST_TMP/get.out" &&
	! grep -q "$(cut -d" " -f2 "$TEST_TMP/k.pub")" "$TEST_TMP/get.out" &&
	test "$(get /settings -b "$TEST_TMP/admin.jar")" = 200 &&
	grep -qF "<tr data-key-name=\"laptop@$T\"><td data-label=\"Name\">laptop@$T</td><td data-label=\"Fingerprint\"><code>$fp</code></td><td data-label=\"Rights\">shop: deploy <button type=\"button\" class=\"grant-revoke\" data-key-name=\"laptop@$T\" data-app=\"shop\">" "$TEST_TMP/get.out" &&
	! grep -q "$(cut -d" " -f2 "$TEST_TMP/k.pub")" "$TEST_TMP/get.out" &&
	test "$(change "$TEST_TMP/admin.jar" DELETE "/api/v1/server/keys/laptop@$T/grants/shop")" = 200 &&
	bd ssh-keys:list --format json | jq -e ".[] | select(.name == \"laptop@$T\") | .rights == {}" &&
	test "$(change "$TEST_TMP/admin.jar" DELETE /api/v1/server/keys/nokey)" = 404 &&
	test "$(change "$TEST_TMP/vic.jar" DELETE "/api/v1/server/keys/laptop@$T")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" DELETE "/api/v1/server/keys/laptop%40$T")" = 200 &&
	! grep -q "laptop@$T" "$BERTHD_STATE_DIR/ssh/authorized_keys" &&
	test "$(change "$TEST_TMP/admin.jar" DELETE "/api/v1/server/keys/laptop@$T")" = 404 &&
	bd events >"$TEST_TMP/events" &&
	for a in add grant revoke remove; do
		grep "panel:ssh-keys:$a" "$TEST_TMP/events" | grep -q "user:admin.*laptop@$T.* from 127.0.0.1" || exit 1
	done
'

test_expect_success 'logging out ends the session: the pages send it to /login' '
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/logout "{}")" = 200 &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 303 && has_header Location /login
'

test_done
