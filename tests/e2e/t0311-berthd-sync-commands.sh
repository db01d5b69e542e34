#!/usr/bin/env bash
# berthd's git:sync and doctor without a lab: what a client gives git:sync
# is checked (URLs of other transports, option injection, bad refs) and
# refused with a clear error, nothing changing; credentials in a URL are
# never printed back; the rights (deploy for git:sync, admin for doctor);
# and git:sync without --build against a real git daemon on loopback: the
# deploy branch follows the default branch, a tag and a commit.
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND

bd() { "$BERTHD" "$@"; }
# as KEY 'COMMAND LINE': what sshd runs for a client of that key
as() { BERTHD_KEY=$1 SSH_ORIGINAL_COMMAND=$2 "$BERTHD" ssh; }
# snapshot: what a refused command must leave as it was
snapshot() {
	{
		bd apps:list
		bd --format json events 2>/dev/null | sed 's/"time":[^,]*,//g'
		find "$BERTHD_STATE_DIR/repos" -path '*/objects' -prune -o -print 2>/dev/null | sort
		for r in "$BERTHD_STATE_DIR"/repos/*.git; do
			if [ -d "$r" ]; then git --git-dir "$r" for-each-ref; fi
		done
	} >"$1"
}

for k in admin1 deployer reader; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@test" -f "$TEST_TMP/$k"
done

# a real git server on loopback: git daemon, a port the kernel had free
SRC=$TEST_TMP/src
mkdir -p "$SRC"
git -C "$SRC" init -q -b main repo
git -C "$SRC/repo" config user.email e2e@berth.test
git -C "$SRC/repo" config user.name "berth e2e"
echo one >"$SRC/repo/f" && git -C "$SRC/repo" add f && git -C "$SRC/repo" commit -qm one
git -C "$SRC/repo" tag v1
echo two >"$SRC/repo/f" && git -C "$SRC/repo" commit -qam two
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --export-all --base-path="$SRC" --listen=127.0.0.1 --port="$PORT" --reuseaddr \
	>"$TEST_TMP/daemon.log" 2>&1 &
GD=$!
test_cleanup "kill $GD"
URL=git://127.0.0.1:$PORT/repo

test_expect_success 'setup: keys, an app, grants and the git daemon' '
	bd ssh-keys:add admin1 <"$TEST_TMP/admin1.pub" &&
	bd ssh-keys:add --limited deployer <"$TEST_TMP/deployer.pub" &&
	bd ssh-keys:add --limited reader <"$TEST_TMP/reader.pub" &&
	bd apps:create shop >/dev/null &&
	bd ssh-keys:grant deployer shop deploy &&
	bd ssh-keys:grant deployer fresh deploy &&
	bd ssh-keys:grant reader shop read &&
	for i in $(seq 50); do git ls-remote "$URL" >/dev/null 2>&1 && break; sleep 0.1; done &&
	git ls-remote "$URL" | grep -q refs/heads/main
'

test_expect_success 'help lists git:sync and doctor (doctor is admin'"'"'s)' '
	as admin1 help >"$TEST_TMP/help" &&
	grep_q "$TEST_TMP/help" "^    git:sync \[--build\|--build-if-changes\] APP REPOSITORY \[GIT_REF\] " &&
	grep_q "$TEST_TMP/help" "^    doctor "
'

test_expect_success 'repositories of other transports, or that are options, are refused; nothing changes' '
	snapshot "$TEST_TMP/before" &&
	for u in "file:///etc" "/srv/repo.git" "../shop.git" "ext::sh" "fd::3" \
		"ssh://git@127.0.0.1/x" "git@127.0.0.1:x.git" "HTTPS://example.com/x" \
		"-uhttps://x/y" "--upload-pack=touch" "https://-oProxyCommand=x/y" "https:///x" \
		"git://127.0.0.1:99999999/x"; do
		test_must_fail as deployer "git:sync shop '"'"'$u'"'"'" 2>"$TEST_TMP/err" || exit 1
		grep_q "$TEST_TMP/err" "^ !     (invalid repository|unknown option)" || exit 1
	done &&
	test_must_fail as deployer "git:sync shop file:///etc" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "only https://, http:// and git:// repositories can be synced" &&
	for u in --upload-pack=touch -uhttps://x/y; do
		test_must_fail as deployer "git:sync shop -- $u" 2>"$TEST_TMP/err" || exit 1
		grep_q "$TEST_TMP/err" "invalid repository .$u.: a repository URL cannot start with .-." || exit 1
	done &&
	test_must_fail as deployer "git:sync shop \"ext::sh -c touch% $TEST_TMP/pwned\"" &&
	test_must_fail as deployer "git:sync --build shop \"ext::sh -c touch% $TEST_TMP/pwned\"" &&
	test ! -e "$TEST_TMP/pwned" &&
	snapshot "$TEST_TMP/after" &&
	diff -u "$TEST_TMP/before" "$TEST_TMP/after"
'

test_expect_success 'bad refs and options are refused; nothing changes' '
	snapshot "$TEST_TMP/before" &&
	for r in -b --upload-pack=x a..b "a b" "a:b" "+main" "main.lock" ".x" "a//b" "@{-1}" "a~1"; do
		test_must_fail as deployer "git:sync shop $URL -- '"'"'$r'"'"'" 2>"$TEST_TMP/err" || exit 1
		grep_q "$TEST_TMP/err" "^ !     invalid git ref" || exit 1
	done &&
	test_must_fail as deployer "git:sync --bogus shop $URL" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: git:sync" &&
	test_must_fail as deployer "git:sync shop" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: git:sync" &&
	test_must_fail as deployer "git:sync shop $URL main extra" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: git:sync" &&
	snapshot "$TEST_TMP/after" &&
	diff -u "$TEST_TMP/before" "$TEST_TMP/after"
'

test_expect_success 'rights: deploy on the app for git:sync, admin for doctor' '
	snapshot "$TEST_TMP/before" &&
	test_must_fail as reader "git:sync shop $URL" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	test_must_fail as reader "git:sync --build other $URL" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	test_must_fail as deployer "git:sync --build other $URL" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	for k in reader deployer; do
		test_must_fail as $k doctor 2>"$TEST_TMP/err" || exit 1
		grep_q "$TEST_TMP/err" "permission denied" || exit 1
	done &&
	test_must_fail as admin1 "doctor extra" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: doctor" &&
	test_must_fail as admin1 "doctor --format yaml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: doctor" &&
	rc=0 && as deployer "git:sync fresh $URL" 2>"$TEST_TMP/err" || rc=$?
	test $rc = 20 && grep_q "$TEST_TMP/err" "App fresh does not exist" &&
	snapshot "$TEST_TMP/after" &&
	diff -u "$TEST_TMP/before" "$TEST_TMP/after"
'

test_expect_success 'credentials in a URL are never printed back' '
	test_must_fail as deployer "git:sync shop https://alice:s3cr3t-tok@127.0.0.1:1/x.git main" \
		>"$TEST_TMP/out" 2>"$TEST_TMP/err" &&
	cat "$TEST_TMP/out" "$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "cannot fetch main from https://\*\*\*@127.0.0.1:1/x.git" &&
	! grep -q s3cr3t "$TEST_TMP/out" "$TEST_TMP/err" &&
	! bd events shop | grep -q s3cr3t &&
	! grep -rqs s3cr3t "$BERTHD_STATE_DIR/repos/shop.git/config" "$BERTHD_STATE_DIR/repos/shop.git/FETCH_HEAD"
'

test_expect_success 'git:sync without --build: the deploy branch follows the default branch, a tag, a commit' '
	two=$(git -C "$SRC/repo" rev-parse main) && one=$(git -C "$SRC/repo" rev-parse v1) &&
	as deployer "git:sync shop $URL" >"$TEST_TMP/out" &&
	cat "$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^-----> Fetching git://127.0.0.1:$PORT/repo at its default branch" &&
	grep_q "$TEST_TMP/out" "^-----> main of shop is now ${two:0:12}" &&
	test "$(git --git-dir "$BERTHD_STATE_DIR/repos/shop.git" rev-parse main)" = "$two" &&
	as deployer "git:sync shop $URL v1" >/dev/null &&
	test "$(git --git-dir "$BERTHD_STATE_DIR/repos/shop.git" rev-parse main)" = "$one" &&
	as deployer "git:sync shop $URL ${two:0:10}" >/dev/null &&
	test "$(git --git-dir "$BERTHD_STATE_DIR/repos/shop.git" rev-parse main)" = "$two" &&
	test_must_fail as deployer "git:sync shop $URL nope" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "cannot fetch nope from git://127.0.0.1:$PORT/repo" &&
	test "$(git --git-dir "$BERTHD_STATE_DIR/repos/shop.git" rev-parse main)" = "$two" &&
	test -z "$(git --git-dir "$BERTHD_STATE_DIR/repos/shop.git" for-each-ref refs/berthd-sync/)" &&
	bd events shop | grep -q "git:sync" &&
	bd releases shop | grep -q "none yet"
'

test_done
