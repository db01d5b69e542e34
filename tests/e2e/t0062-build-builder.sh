#!/usr/bin/env bash
# How berth builds: a clean git clone of HEAD by default (builder.context: .
# builds the tree as it is), build dev of the working tree, a remote builder
# over ssh (builder.remote), and docker buildx where the config needs it —
# which this machine lacks (Debian 12 packages no buildx), so the tests of
# buildx check that berth says so and names what is missing.
. "$(dirname "$0")/lib.sh"
lab_env
read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]} h3=${hosts[2]}
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
APP=$TEST_TMP/app
mkdir -p "$APP/config"
cd "$APP" || exit 1
# the docker CLI reaches ssh:// hosts with the ssh on PATH: this one knows the lab
mkdir -p "$TEST_TMP/bin"
printf '#!/bin/sh\nexec /usr/bin/ssh -F "%s" "$@"\n' "$LAB_SSH_CONFIG" >"$TEST_TMP/bin/ssh"
chmod +x "$TEST_TMP/bin/ssh"
on() { local h=$1; shift; ssh -F "$LAB_SSH_CONFIG" "$h" "$@"; }

# file_in IMAGE PATH: the file's contents in the image
file_in() {
	local c
	c=$(docker create "$1") && docker cp "$c:$2" - | tar -xO
	docker rm "$c" >/dev/null
}

config() {
	cat >config/deploy.yml <<-YML
	service: $T
	image: $T
	servers: [$h1]
	ssh:
	  config: $LAB_SSH_CONFIG
	YML
	# builder.arch is required (as Kamal requires it): amd64 where the test gives none
	local a args=() arch=0
	for a; do [[ $a == "  arch:"* ]] && arch=1; done
	for a; do
		args+=("$a")
		[[ $a == "builder:" && $arch == 0 ]] && args+=("  arch: amd64") && arch=1
	done
	((arch)) || args+=("builder:" "  arch: amd64")
	printf '%s\n' "${args[@]}" >>config/deploy.yml
}
config
printf 'FROM berth-testapp:latest\nLABEL berth-e2e-test=%s\nCOPY f /f\n' "$T" >Dockerfile
echo one >f
git init -q . && git add Dockerfile f config/deploy.yml &&
	git -c user.name=t -c user.email=t@t commit -qm one
echo two >f
echo new >untracked
for _h in "$h1" "$h3"; do
	test_cleanup "on $_h 'docker rmi -f \$(docker images -q $T)'"
done
test_cleanup "docker rmi -f \$(docker images -q $T)"
test_cleanup "rm -rf /tmp/berth-clones/$T-*"

test_expect_success 'push builds a clean clone of HEAD and names what it leaves out' '
	"$BERTH" build push --version c1 >out 2>err &&
	cat err &&
	grep_q err "building from a clean git clone of HEAD, so these uncommitted changes are not in the image" &&
	grep_q err "^   M f$" && grep_q err "^  \?\? untracked$" &&
	test "$(file_in "$T:c1" /f)" = one &&
	ls -d /tmp/berth-clones/$T-* >/dev/null &&
	"$BERTH" build details >out &&
	grep_q out "^context: +a clean git clone of HEAD" &&
	grep_q out "^builder: +docker build here$"
'

test_expect_success 'the clone follows the next commit' '
	git -c user.name=t -c user.email=t@t commit -qam two &&
	"$BERTH" build push --version c2 >out 2>err &&
	! grep -q "M f" err &&
	test "$(file_in "$T:c2" /f)" = two &&
	echo three >f
'

test_expect_success 'builder.context: . builds the tree as it is, and says it is dirty' '
	config "builder:" "  context: ." &&
	"$BERTH" build push --version w1 >out 2>err &&
	grep_q err "building with uncommitted changes:" &&
	test "$(file_in "$T:w1" /f)" = three &&
	git checkout -q config/deploy.yml
'

test_expect_success 'build dev: the working tree, tagged VERSION-dirty, delivered over ssh' '
	"$BERTH" build dev --version d1 --deliver >out 2>err &&
	cat out err &&
	test "$(tail -n 1 out)" = "$T:d1-dirty" &&
	grep_q err "building with uncommitted changes" &&
	grep_q err "sent $T:d1-dirty to 1 host over ssh" &&
	test "$(file_in "$T:d1-dirty" /f)" = three &&
	on "$h1" docker image inspect "$T:d1-dirty" >/dev/null &&
	test_must_fail "$BERTH" build dev --version d2 --output registry 2>err &&
	grep_q err "names no registry"
'

test_expect_success 'without buildx in the config, build create and remove have nothing to do' '
	"$BERTH" build create 2>err &&
	grep_q err "nothing to create: berth builds with plain docker build here" &&
	"$BERTH" build remove 2>err &&
	grep_q err "nothing to remove"
'

test_expect_success 'builder.remote: built on the remote docker over ssh, brought back here' '
	(cd / && "$BERTH" build deliver berth-testapp:latest -h "$h3" --ssh-config "$LAB_SSH_CONFIG") >/dev/null &&
	config "builder:" "  remote: ssh://root@$h3" "  local: false" &&
	PATH=$TEST_TMP/bin:$PATH "$BERTH" build create 2>err &&
	grep_q err "nothing to create: berth builds with plain docker build on ssh://root@$h3 \(docker [0-9.]+.* answers there\)" &&
	PATH=$TEST_TMP/bin:$PATH "$BERTH" build details >out &&
	grep_q out "^builder: +docker build on ssh://root@$h3 \(DOCKER_HOST; the image comes back here\)" &&
	PATH=$TEST_TMP/bin:$PATH "$BERTH" build push --version r1 >out 2>err &&
	cat err &&
	grep_q err "building $T:r1 on ssh://root@$h3" &&
	on "$h3" docker image inspect "$T:r1" >/dev/null &&
	test "$(file_in "$T:r1" /f)" = two &&
	git checkout -q config/deploy.yml
'

test_expect_success 'a remote builder that does not answer is named' '
	config "builder:" "  remote: ssh://root@127.0.0.1:1" "  local: false" &&
	test_must_fail "$BERTH" build create 2>err &&
	grep_q err "the remote builder ssh://root@127.0.0.1:1 does not answer as docker" &&
	test_must_fail "$BERTH" build push --version r2 2>err &&
	grep_q err "docker build of .$T:r2. on ssh://root@127.0.0.1:1" &&
	git checkout -q config/deploy.yml
'

test_expect_success 'several arches need buildx: create, push and details say it is missing' '
	if docker buildx version >/dev/null 2>&1; then echo "# this machine has buildx"; exit 0; fi
	config "registry:" "  server: localhost:5999" "builder:" "  arch: [amd64, arm64]" &&
	test_must_fail "$BERTH" build create 2>err &&
	grep_q err "building for 2 platforms \(builder.arch: linux/amd64,linux/arm64\): that needs docker buildx, which this machine.s docker lacks .*install Docker.s buildx plugin" &&
	test_must_fail "$BERTH" build push --version x1 2>err &&
	grep_q err "that needs docker buildx" &&
	"$BERTH" build details >out &&
	grep_q out "^builder: +docker buildx, builder berth-local-registry-docker-container \(driver docker-container\): building for 2 platforms" &&
	grep_q out "^build: +docker buildx build --output=type=registry --platform linux/amd64,linux/arm64 --builder berth-local-registry-docker-container " &&
	grep_q out "^buildx: +missing" &&
	git checkout -q config/deploy.yml
'

test_expect_success 'a cache needs buildx too; several arches without a registry are refused first' '
	config "builder:" "  arch: amd64" "  cache:" "    type: gha" &&
	test_must_fail "$BERTH" build push --version x2 2>err &&
	grep_q err "building with a cache \(builder.cache: gha\): that needs docker buildx" &&
	config "builder:" "  arch: [amd64, arm64]" &&
	test_must_fail "$BERTH" build push --version x3 2>err &&
	grep_q err "no registry to push the multi-platform image to" &&
	git checkout -q config/deploy.yml
'

test_done
