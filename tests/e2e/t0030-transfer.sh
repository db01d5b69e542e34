#!/usr/bin/env bash
# Image transfer without a registry: only the layers a host lacks go over ssh.
. "$(dirname "$0")/lib.sh"
lab_env

read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]} h2=${hosts[1]}
ssh_opts=(--ssh-config "$LAB_SSH_CONFIG")
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
# The layer cache of lab host N (next to its dockerd's data root).
cache_of() { echo "$(dirname "$(eval echo "\$LAB_H${1#lab-h}_DATA_ROOT")")/berth/layers"; }
on() { local h=$1; shift; ssh -F "$LAB_SSH_CONFIG" "$h" "$@"; }

A=$T-a:1 B=$T-b:1
for h in "$h1" "$h2"; do
	test_cleanup "on $h docker rm -f $T-run; on $h docker rmi -f $A $B"
done
test_cleanup "docker rmi -f $A $B"

test_expect_success 'two images that differ by one layer' '
	mkdir "$TEST_TMP/a" "$TEST_TMP/b" &&
	head -c 300000 /dev/urandom >"$TEST_TMP/a/data" &&
	printf "FROM berth-testapp:latest\nCOPY data /data-a\n" >"$TEST_TMP/a/Dockerfile" &&
	docker build -q -t "$A" "$TEST_TMP/a" &&
	head -c 200000 /dev/urandom >"$TEST_TMP/b/data" &&
	printf "FROM %s\nCOPY data /data-b\n" "$A" >"$TEST_TMP/b/Dockerfile" &&
	docker build -q -t "$B" "$TEST_TMP/b" &&
	# the hosts start without the base layer in their caches (it only saves bytes)
	base=$(docker image inspect --format "{{range .RootFS.Layers}}{{.}} {{end}}" berth-testapp:latest) &&
	for h in "$h1" "$h2"; do
		for l in $base; do rm -f "$(cache_of "$h")/${l#sha256:}.tar"; done
	done
'

test_expect_success 'the first image reaches two hosts and runs there' '
	"$BERTH" build deliver "$A" -h "$h1,$h2" "${ssh_opts[@]}" >"$TEST_TMP/out1" &&
	cat "$TEST_TMP/out1" &&
	grep_q "$TEST_TMP/out1" "^$h1: loaded $A: 2 of 2 layers sent" &&
	grep_q "$TEST_TMP/out1" "^$h2: loaded $A: 2 of 2 layers sent" &&
	grep_q "$TEST_TMP/out1" "^$h1: layer sha256:[0-9a-f]{12}… [0-9.]+ KiB sent$" &&
	grep_q "$TEST_TMP/out1" "^delivered $A to 2 of 2 hosts" &&
	id=$(docker image inspect --format "{{.Id}}" "$A") &&
	for h in "$h1" "$h2"; do
		test "$(on "$h" docker image inspect --format "{{.Id}}" "$A")" = "$id" || exit 1
	done &&
	on "$h1" docker run -d --name "$T-run" "$A" >/dev/null &&
	test "$(on "$h1" docker inspect --format "{{.State.Running}}" "$T-run")" = true &&
	on "$h1" docker cp "$T-run:/data-a" - | tar -xO | cmp - "$TEST_TMP/a/data"
'

test_expect_success 'the second image sends only its new layer' '
	"$BERTH" build deliver "$B" -h "$h1,$h2" "${ssh_opts[@]}" >"$TEST_TMP/out2" &&
	cat "$TEST_TMP/out2" &&
	new=$(docker image inspect --format "{{range .RootFS.Layers}}{{.}} {{end}}" "$B" | awk "{print \$NF}") &&
	new=${new#sha256:} &&
	for h in "$h1" "$h2"; do
		grep_q "$TEST_TMP/out2" "^$h: loaded $B: 1 of 3 layers sent" || exit 1
		test "$(grep -c "^$h: layer .* sent$" "$TEST_TMP/out2")" = 1 || exit 1
		grep_q "$TEST_TMP/out2" "^$h: layer sha256:${new:0:12}… [0-9.]+ KiB sent$" || exit 1
		test "$(grep -c "^$h: layer .* cached$" "$TEST_TMP/out2")" = 2 || exit 1
		test -f "$(cache_of "$h")/$new.tar" || exit 1
		test "$(on "$h" docker image inspect --format "{{.Id}}" "$B")" = \
			"$(docker image inspect --format "{{.Id}}" "$B")" || exit 1
	done &&
	# bytes sent: the new layer plus the config and manifest, per host
	layer=$(stat -c %s "$(cache_of "$h1")/$new.tar") &&
	sent=$(sed -n "s/^delivered .* sent .* (\([0-9]*\) bytes) for an image .*/\1/p" "$TEST_TMP/out2") &&
	echo "sent $sent bytes for two hosts; the new layer is $layer bytes" &&
	test "$sent" -ge $((2 * layer)) && test "$sent" -le $((2 * layer + 2 * 32768))
'

test_expect_success 'the cache holds each layer once, verified by its digest' '
	for h in "$h1" "$h2"; do
		d=$(cache_of "$h")
		for l in $(docker image inspect --format "{{range .RootFS.Layers}}{{.}} {{end}}" "$B"); do
			test "$(sha256sum <"$d/${l#sha256:}.tar" | cut -d" " -f1)" = "${l#sha256:}" || exit 1
		done
		test -z "$(ls -A "$d" | grep "^\.")" || exit 1 # no temporary files left
	done
'

test_expect_success 'delivering again sends nothing' '
	"$BERTH" build deliver "$B" -h "$h1,$h2" "${ssh_opts[@]}" >"$TEST_TMP/out3" &&
	cat "$TEST_TMP/out3" &&
	grep_q "$TEST_TMP/out3" "^$h1: image present, nothing to send$" &&
	grep_q "$TEST_TMP/out3" "^$h2: image present, nothing to send$" &&
	grep_q "$TEST_TMP/out3" "sent 0 B \(0 bytes\)" &&
	test "$(grep -c " sent$" "$TEST_TMP/out3")" = 0
'

test_expect_success 'a host that has the image under another name gets a tag only' '
	on "$h2" docker tag "$(docker image inspect --format "{{.Id}}" "$B")" "$T-other:1" &&
	on "$h2" docker rmi "$B" >/dev/null &&
	test_cleanup "on $h2 docker rmi -f $T-other:1" &&
	"$BERTH" build deliver "$B" -h "$h2" "${ssh_opts[@]}" >"$TEST_TMP/out4" &&
	grep_q "$TEST_TMP/out4" "^$h2: image present, nothing to send \(tagged it\)$" &&
	on "$h2" docker image inspect "$B" >/dev/null
'

test_expect_success 'an unreachable host fails alone, with the reason' '
	on "$h2" docker rmi -f "$B" "$T-other:1" >/dev/null &&
	! "$BERTH" build deliver "$B" -h "$h2,127.0.0.1:1" "${ssh_opts[@]}" \
		>"$TEST_TMP/out5" 2>"$TEST_TMP/err5" &&
	cat "$TEST_TMP/out5" "$TEST_TMP/err5" &&
	grep_q "$TEST_TMP/out5" "^$h2: loaded $B: 0 of 3 layers sent" &&
	grep_q "$TEST_TMP/err5" "host .127\.0\.0\.1:1.: cannot connect over ssh: .*Connection refused" &&
	grep_q "$TEST_TMP/err5" "1 of 2 hosts did not get image .$B." &&
	grep_q "$TEST_TMP/out5" "^delivered $B to 1 of 2 hosts"
'

test_expect_success 'an image that does not exist here fails before any host is touched' '
	! "$BERTH" build deliver "$T-nosuch:1" -h "$h1" "${ssh_opts[@]}" 2>"$TEST_TMP/err6" &&
	grep_q "$TEST_TMP/err6" "no image .$T-nosuch:1. here"
'

test_done
