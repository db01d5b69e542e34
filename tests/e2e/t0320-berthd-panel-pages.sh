#!/usr/bin/env bash
# berthd's panel pages without a lab: `berthd serve --http` on loopback with
# a state of its own. Before set-up every page answers 403 pointing at the
# set-up link; the link `berthd panel:setup-link` prints makes the first
# admin, who logs in with curl; each page then answers with its security
# headers and the ids panel.js and the browser test use, names and versions
# escaped and no config value anywhere; without a session (or with only an
# API token) a page is 303 to /login; a viewer's app page has no change
# control; the assets come with their types and a year's immutable cache.
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
"$BERTHD" serve --http "127.0.0.1:$PORT" >"$TEST_TMP/serve.log" 2>&1 &
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

test_expect_success 'logging out ends the session: the pages send it to /login' '
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/logout "{}")" = 200 &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 303 && has_header Location /login
'

test_done
