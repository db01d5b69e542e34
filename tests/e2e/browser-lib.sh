# Sourced by the browser tests (after lib.sh): Debian's chromium driven by
# playwright-core from npm (tests/e2e/browser/driver.mjs).
#
#   browser_run STEP [--session NAME] <<'JS'
#   	await b.goto('https://...'); await b.shot('page');
#   JS
# runs the JavaScript on stdin as one step, with `b` the driver's handle (b.page,
# b.goto, b.shot, b.expect, b.env) and `page` = b.page; it fails on an error
# thrown, a console error or a page error. Cookies go from step to step of the
# same session (default "main"). What the browser sent and got, its console and
# the screenshots are kept in $BROWSER_OUT, under build/test-results/browser/ (the
# folder the test runner keeps), emptied when the test starts.
BROWSER_PLAYWRIGHT_VERSION=1.65.2
BROWSER_PLAYWRIGHT_DIR=${BERTH_E2E_PLAYWRIGHT_DIR:-/var/tmp/berth-e2e-playwright}
BROWSER_OUT=$TOP/build/test-results/browser/$(basename "$0" .sh)
BROWSER_TRAFFIC=$BROWSER_OUT/traffic.jsonl
# more chromium flags, one a line (e.g. --host-resolver-rules=...)
BROWSER_ARGS=

if [[ ! -x /usr/bin/chromium ]]; then
	echo "Bail out! no /usr/bin/chromium (scripts/install-deps installs it)"
	exit 1
fi
# playwright-core of that version in a test-only folder kept across runs; it never
# downloads a browser (chromium is Debian's)
if [[ $(node -p "require('$BROWSER_PLAYWRIGHT_DIR/node_modules/playwright-core/package.json').version" \
	2>/dev/null) != "$BROWSER_PLAYWRIGHT_VERSION" ]]; then
	mkdir -p "$BROWSER_PLAYWRIGHT_DIR"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
		--prefix "$BROWSER_PLAYWRIGHT_DIR" "playwright-core@$BROWSER_PLAYWRIGHT_VERSION" \
		>/dev/null 2>&1 || { echo "Bail out! npm cannot install playwright-core"; exit 1; }
fi
rm -rf "$BROWSER_OUT"
mkdir -p "$BROWSER_OUT" "$TEST_TMP/browser" || exit 1

browser_run() {
	local step=$1 session=main file
	shift
	if [[ ${1:-} == --session ]]; then
		session=$2
		shift 2
	fi
	file=$TEST_TMP/browser/$step.mjs
	{
		echo "export default async function (b) {"
		echo "const page = b.page;"
		cat
		echo "}"
	} >"$file"
	BROWSER_OUT=$BROWSER_OUT BROWSER_STEP=$step BROWSER_ARGS=$BROWSER_ARGS \
		BROWSER_SESSION_FILE=$TEST_TMP/browser/session-$session.json \
		BROWSER_PROFILE=$TEST_TMP/browser BROWSER_PLAYWRIGHT_DIR=$BROWSER_PLAYWRIGHT_DIR \
		timeout 120 node "$TOP/tests/e2e/browser/step.mjs" "$file"
}

# browser_traffic_count STRING: how many recorded requests and responses hold STRING
# anywhere (URL, headers, body).
browser_traffic_count() {
	grep -cF -- "$1" "$BROWSER_TRAFFIC" || true
}

# browser_sent_once VALUE METHOD PATH: VALUE is in the recorded traffic once, in the body of
# one METHOD request to PATH, and in no URL, header, other request or any response.
browser_sent_once() {
	node "$TOP/tests/e2e/browser/sent-once.mjs" "$BROWSER_TRAFFIC" "$@"
}
