#!/usr/bin/env bash
# git:sync and doctor against berthd on a lab host set up by `berth server
# bootstrap --daemon`, as a Dokku user runs them over ssh. A real git server
# (git daemon) on this machine's address on the lab's network serves a
# Dockerfile app: git:sync --build creates the app and serves v1; a new
# commit and --build-if-changes serve v2, and running it again builds
# nothing; a tag and a commit work as refs; a failing build exits 1, v2
# serves on and the deploy branch stays. doctor prints the host's checks,
# its disk figures those of the host's own df (/ and Docker's data root,
# which is 1 GiB on a lab host: not what berthd's container sees), and
# leaves no helper container behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h2
ADDR=$(addr_of $H)
a1=$(addr_of $h1)
# This machine's address on the lab's network: the git server listens there.
HERE=$(ip -4 -o addr show | awk -v a1="$a1" '
	{ split($4, p, "/"); split(p[1], x, "."); split(a1, y, ".") }
	x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && p[1] != a1 { print p[1]; exit }')
[[ -n $HERE ]] || { echo "no address of this machine on the lab's network" >&2; exit 1; }
SRC=$TEST_TMP/src
REPO=$SRC/repo

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() {
	ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"
}
# commit_version V [DOCKERFILE LINES...]: a commit of the app answering with version V
commit_version() {
	local v=$1
	shift
	{
		echo "FROM scratch"
		echo "COPY testapp /testapp"
		echo "ENV APP_VERSION=$v"
		for l in "$@"; do echo "$l"; done
		echo 'CMD ["/testapp"]'
	} >"$REPO/Dockerfile"
	(cd "$REPO" && git add -A && git commit -qm "$v")
}
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
branch_rev() { on $H docker exec berthd git --git-dir /var/lib/berthd/repos/$T.git rev-parse main; }
nreleases() { bd releases $T | grep -c " deployed" || true; }

write_config
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"

# git daemon on a port free on this machine's lab address
PORT=$(python3 -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$HERE")
git daemon --export-all --base-path="$SRC" --listen="$HERE" --port="$PORT" --reuseaddr \
	>"$TEST_TMP/git-daemon.log" 2>&1 &
GD=$!
test_cleanup "kill $GD"
URL=git://$HERE:$PORT/repo

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'bootstrap --daemon with an admin key; the git server answers' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd version >v && grep -q "^berthd " v &&
	commit_version v1 &&
	for i in $(seq 50); do git ls-remote "$URL" >/dev/null 2>&1 && break; sleep 0.1; done &&
	git ls-remote "$URL" | grep -q refs/heads/main
'

test_expect_success 'git:sync --build creates the app as a push would and serves v1' '
	{ bd git:sync --build $T "$URL" main >sync.out 2>&1 || { cat sync.out; exit 1; }; } &&
	cat sync.out &&
	grep -q "^-----> Creating $T" sync.out &&
	grep -q "^-----> Fetching $URL at main" sync.out &&
	grep -q "^-----> Building $T from $(git -C "$REPO" rev-parse --short=12 main)" sync.out &&
	grep -q "^-----> main of $T is now" sync.out &&
	{ bd domains:add $T $T.test >dom.out 2>&1 || { cat dom.out; exit 1; }; } &&
	test "$(served)" = v1 &&
	test "$(branch_rev)" = "$(git -C "$REPO" rev-parse main)"
'

test_expect_success 'a new commit: git:sync --build-if-changes serves v2' '
	commit_version v2 &&
	{ bd git:sync --build-if-changes $T "$URL" main >sync.out 2>&1 || { cat sync.out; exit 1; }; } &&
	cat sync.out &&
	grep -q "^-----> Building $T" sync.out &&
	test "$(served)" = v2 &&
	test "$(branch_rev)" = "$(git -C "$REPO" rev-parse main)"
'

test_expect_success 'git:sync --build-if-changes again builds and deploys nothing' '
	n=$(nreleases) &&
	{ bd git:sync --build-if-changes $T "$URL" >sync.out 2>&1 || { cat sync.out; exit 1; }; } &&
	cat sync.out &&
	grep -q "^-----> Fetching $URL at its default branch" sync.out &&
	grep -q "is deployed already: nothing to build" sync.out &&
	! grep -q "Building" sync.out &&
	test "$(nreleases)" = "$n" &&
	{ bd git:sync --build-if-changes $T "$URL" "$(git -C "$REPO" rev-parse main)" >sync.out 2>&1 ||
		{ cat sync.out; exit 1; }; } &&
	grep -q "nothing to build" sync.out &&
	test "$(served)" = v2
'

test_expect_success 'a tag as the ref: git:sync --build serves the tagged version' '
	git -C "$REPO" tag -a rel-1 -m "release 1" "$(git -C "$REPO" rev-list --max-parents=0 main)" &&
	{ bd git:sync --build $T "$URL" rel-1 >sync.out 2>&1 || { cat sync.out; exit 1; }; } &&
	cat sync.out &&
	test "$(served)" = v1 &&
	test "$(branch_rev)" = "$(git -C "$REPO" rev-parse "rel-1^{commit}")" &&
	{ bd git:sync --build-if-changes $T "$URL" main >sync.out 2>&1 || { cat sync.out; exit 1; }; } &&
	test "$(served)" = v2
'

test_expect_success 'a failing build exits 1, v2 serves on, the deploy branch stays' '
	before=$(branch_rev) &&
	commit_version v3 "COPY no-such-file /x" &&
	rc=0 && bd git:sync --build $T "$URL" main >sync.out 2>&1 || rc=$?
	cat sync.out &&
	test $rc = 1 &&
	grep -q "^-----> Building $T" sync.out &&
	grep -q "^ !     .*no-such-file" sync.out &&
	test "$(served)" = v2 &&
	test "$(branch_rev)" = "$before" &&
	git -C "$REPO" reset -q --hard HEAD~1
'

test_expect_success 'doctor: the host'"'"'s checks, its disks as the host'"'"'s own df sees them' '
	rc=0 && bd doctor >doc.out 2>doc.err || rc=$?
	cat doc.out doc.err &&
	name=$(on $H docker info --format "{{.Name}}") &&
	grep -q "^$name  \(ready\|ready, with warnings\|NOT READY\)$" doc.out &&
	for c in docker disk memory load clock ports logs; do
		grep -qE "^  (ok|WARN|FAIL) +$c " doc.out || { echo "no $c check"; exit 1; }
	done &&
	if grep -qE "^  FAIL " doc.out; then test $rc = 1; else test $rc = 0; fi &&
	root=$(on $H docker info --format "{{.DockerRootDir}}") &&
	on $H df -Pk / "$root" >df.out && cat df.out &&
	python3 - doc.out df.out "$root" <<-"PY"
	import re, sys
	doc, df, root = open(sys.argv[1]).read(), open(sys.argv[2]).read().splitlines()[1:], sys.argv[3]
	disk = next(l for l in doc.splitlines() if re.match(r"^  \S+ +disk ", l))
	units = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
	def size(s):
	    n, u = s.split()
	    return float(n) * units[u]
	for path, line in (("/", df[0]), (root, df[1])):
	    f = line.split()
	    total, avail = int(f[1]) * 1024, int(f[3]) * 1024
	    m = re.search(r"(?:^|; |and )" + re.escape(path) + r"(?: and [^:]+)?: \d+% free \(([\d.]+ \w+) of ([\d.]+ \w+)\)", disk.split("disk", 1)[1].strip())
	    assert m, (path, disk)
	    got_avail, got_total = size(m.group(1)), size(m.group(2))
	    print(path, "doctor:", m.group(1), "of", m.group(2), "df:", avail, "of", total)
	    assert abs(got_total - total) <= 0.03 * total, (path, got_total, total)
	    assert abs(got_avail - avail) <= max(0.03 * avail, 2**20), (path, got_avail, avail)
	# the lab'"'"'s data root is a 1 GiB tmpfs, / the machine'"'"'s disk: the figures are the host'"'"'s
	assert int(df[1].split()[1]) * 1024 <= 2 * 2**30, df[1]
	PY
	test -z "$(on $H docker ps -aq --filter name=berthd-doctor)"
'

test_expect_success 'doctor --format json is berth doctor --json'"'"'s document' '
	{ bd doctor --format json >doc.json || true; } &&
	{ bd -- --format json doctor >doc2.json || true; } &&
	python3 - doc.json doc2.json <<-"PY"
	import json, sys
	doc = json.load(open(sys.argv[1]))
	assert json.load(open(sys.argv[2]))["hosts"][0]["host"] == doc["hosts"][0]["host"]
	assert doc["status"] in ("ok", "warn", "fail"), doc
	checks = {c["name"]: c for c in doc["hosts"][0]["checks"]}
	for c in ("docker", "disk", "memory", "ports"):
	    assert c in checks, checks
	assert checks["docker"]["status"] == "ok", checks["docker"]
	PY
'

test_expect_success 'apps:destroy leaves nothing behind' '
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter label=service=$T)" &&
	test -z "$(on $H docker images -q berthd/$T)"
'

test_done
