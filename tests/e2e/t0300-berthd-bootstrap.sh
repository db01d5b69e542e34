#!/usr/bin/env bash
# berth server bootstrap --daemon on a lab host (its own /etc and /home, as a
# server's): the berth user and its forced command, berth-proxy, the
# container berthd from berthd:VERSION sent over ssh; --key adds an admin key
# that logs in as berth and reaches berthd only, never a shell; a key not
# added is refused; a second run changes nothing; the container comes back
# when its process dies, and is replaced when it is not what bootstrap runs.
#
# The lab's own sshd reads one shared authorized_keys file for every user, so
# the logins as berth go to an sshd of this test's, started on the host with
# sshd's default AuthorizedKeysFile (~/.ssh/authorized_keys) and StrictModes,
# as on a stock server.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

V=$(cat "$TOP/VERSION")
u=bt$$
conf=/etc/docker/daemon.json
key=$TEST_TMP/key
key_name=e2e-$T
addr=$(addr_of "$h1")
port=$((30000 + $$ % 20000))
if ! on $h1 test -f /etc/berth-lab-host || test -f /etc/berth-lab-host; then
	echo "Bail out! $h1 has no /etc of its own: tests/e2e/lab/lab up makes it again"
	exit 1
fi

# What this test makes on the host, removed at the end (and before, after a killed run).
had_proxy=$(on $h1 docker ps -aq --filter name=^berth-proxy\$)
gone="docker rm -f berthd \$(docker ps -aq --filter label=service=$T); docker volume rm berthd; docker rmi berthd:$V \$(docker images -q berthd/$T); userdel -r berth; rm -rf /home/berth; userdel -r $u; rm -f $conf"
if [[ -z $had_proxy ]]; then
	gone="$gone; docker rm -f berth-proxy berth-proxy-ports; docker volume rm berth-proxy"
fi
on $h1 "$gone" >/dev/null 2>&1
test_cleanup "on $h1 '$gone'"
test_cleanup "test -s $TEST_TMP/sshd.pid && kill \$(cat $TEST_TMP/sshd.pid)"
write_config

# An sshd of the test's on the host, and an ssh config for it that has no key of its own.
ssh-keygen -q -t ed25519 -N '' -C "$key_name" -f "$key"
ssh-keygen -q -t ed25519 -N '' -f "$TEST_TMP/other"
ssh-keygen -q -t ed25519 -N '' -f "$TEST_TMP/hostkey"
cat >"$TEST_TMP/sshd_config" <<EOF
ListenAddress $addr:$port
HostKey $TEST_TMP/hostkey
PidFile $TEST_TMP/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
PermitRootLogin no
LogLevel VERBOSE
EOF
echo "[$addr]:$port $(cat "$TEST_TMP/hostkey.pub")" >"$TEST_TMP/known_hosts"
cat >"$TEST_TMP/ssh_config" <<EOF
Host berthd-host
	HostName $addr
	Port $port
	UserKnownHostsFile $TEST_TMP/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	IdentitiesOnly yes
	BatchMode yes
	ConnectTimeout 5
	LogLevel ERROR
EOF
# as_berth KEY ARGS...: ssh to the test's sshd as berth with that key only.
as_berth() {
	local k=$1
	shift
	ssh -F "$TEST_TMP/ssh_config" -i "$k" berth@berthd-host "$@"
}
# bootstrap ARGS...: the daemon's bootstrap on h1, in the project.
bootstrap() { berth server bootstrap -h $h1 --user $u --daemon "$@"; }
# started_at: when the container berthd started, and its ID.
started_at() { on $h1 "docker inspect --format '{{.Id}} {{.State.StartedAt}}' berthd"; }

test_expect_success 'the images are built here' '
	"$TOP/scripts/make-image" "$TOP/bin/berth-proxy" "$V" >/dev/null &&
	"$TOP/scripts/make-berthd-image" "$V" "$TOP/bin/berthd" >/dev/null &&
	docker image inspect --format "{{index .Config.Labels \"berth.daemon\"}}" berthd:$V >label &&
	test "$(cat label)" = 1
'

test_expect_success 'the image: sh, docker against the mounted socket, git init and a real push' '
	test_cleanup "docker rm -f $T-img" &&
	docker run -d --name $T-img -v /var/run/docker.sock:/var/run/docker.sock berthd:$V \
		sleep 300 >/dev/null &&
	test "$(docker exec $T-img sh -c "echo \$((6 * 7))")" = 42 &&
	docker exec $T-img docker version --format "{{.Server.Version}}" >dv && test -s dv &&
	docker exec $T-img git init -q --bare /var/lib/berthd/repos/app.git &&
	printf "#!/bin/sh\nwhile read -r o n r; do echo \"hook saw \$r\"; done\n" |
		docker exec -i $T-img sh -c "cd /var/lib/berthd/repos/app.git && ! ls -A hooks | grep -q . &&
			cat >hooks/pre-receive && chmod +x hooks/pre-receive" &&
	git init -q -b main src && echo one >src/f && git -C src add f &&
	git -C src -c user.name=e2e -c user.email=e2e@test commit -q -m one &&
	git -C src -c protocol.ext.allow=always push \
		"ext::docker exec -i $T-img git %s /var/lib/berthd/repos/app.git" main >push 2>&1 &&
	cat push && grep -q "hook saw refs/heads/main" push &&
	test "$(docker exec $T-img git -C /var/lib/berthd/repos/app.git show main:f)" = one &&
	docker exec $T-img git -C /var/lib/berthd/repos/app.git archive main | tar -t >files &&
	test "$(cat files)" = f
'

test_expect_success 'a key without --daemon, or a bad key name, is refused before any host is touched' '
	rc=0 && berth server bootstrap -h $h1 --key $key.pub 2>err || rc=$?
	test $rc = 2 && grep -q "go with --daemon" err &&
	rc=0 && bootstrap --key $key.pub --key-name "a b" 2>err || rc=$?
	test $rc = 2 && grep -q "is not a key name" err &&
	rc=0 && bootstrap --key $key 2>err || rc=$?
	test $rc = 2 && grep -q "is not one public key" err &&
	on $h1 "! getent passwd berth && ! getent passwd $u"
'

test_expect_success 'bootstrap --daemon --key: the berth user, berth-proxy, berthd, the key' '
	bootstrap --key $key.pub --key-name $key_name >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "^$h1: user berth: made$" out &&
	grep -q "^$h1: user berth: added to group docker$" out &&
	grep -q "^$h1: directory /home/berth/.ssh: made$" out &&
	grep -q "^$h1: forced command /home/berth/berthd-ssh: written$" out &&
	grep -q "^$h1: loaded berthd:$V" out &&
	grep -q "^$h1: berthd started (berthd:$V)$" out &&
	grep -q "^$h1: berth-proxy " out &&
	grep -q "^$h1: key $key_name: added (Added key" out &&
	! grep -q "nothing changed" out && ! grep -q "ssh-keys:add admin" out
'

test_expect_success 'the user: a system user, shell /bin/sh, group docker, no password, its .ssh' '
	on $h1 getent passwd berth >pw &&
	test "$(cut -d: -f6,7 pw)" = /home/berth:/bin/sh && test "$(cut -d: -f3 pw)" -lt 1000 &&
	on $h1 id -nG berth | tr " " "\n" | grep -qx docker &&
	test "$(on $h1 getent shadow berth | cut -d: -f2)" = "*" &&
	test "$(on $h1 "stat -c '"'%a %U'"' /home/berth /home/berth/.ssh" | tr "\n" " ")" = "755 berth 700 berth " &&
	test "$(on $h1 "stat -c '"'%a %U'"' /home/berth/berthd-ssh")" = "755 root" &&
	on $h1 cat /home/berth/berthd-ssh >forced &&
	test "$(head -n1 forced)" = "#!/bin/sh" &&
	grep -q "^exec docker exec -i \"\$@\" -e SSH_ORIGINAL_COMMAND -e \"BERTHD_KEY=\$key\" berthd berthd ssh$" forced &&
	shellcheck -S warning forced
'

test_expect_success 'the container: the design'"'"'s mounts, environment, restart policy and network' '
	on $h1 docker inspect berthd >inspect.json &&
	jq -e ".[0].State.Running and .[0].HostConfig.RestartPolicy.Name == \"unless-stopped\" and
		.[0].HostConfig.NetworkMode == \"berth\" and .[0].Config.Cmd == [\"berthd\", \"serve\"] and
		.[0].Config.Image == \"berthd:$V\"" inspect.json &&
	jq -r ".[0].HostConfig.Binds[]" inspect.json | sort >binds &&
	printf "%s\n" /home/berth/.ssh:/var/lib/berthd/ssh /var/run/docker.sock:/var/run/docker.sock \
		berthd:/var/lib/berthd | sort >want && cmp binds want &&
	uid=$(on $h1 id -u berth) && gid=$(on $h1 id -g berth) &&
	jq -r ".[0].Config.Env[]" inspect.json >env &&
	grep -qx "BERTHD_SSH_UID=$uid" env && grep -qx "BERTHD_SSH_GID=$gid" env &&
	grep -qx "BERTHD_SSH_COMMAND=/home/berth/berthd-ssh" env &&
	on $h1 docker exec berthd berthd version | grep -qx "berthd $V" &&
	on $h1 docker exec berthd docker version --format "{{.Server.Version}}" >dv && test -s dv
'

# What berthd serve holds in memory once started (reported, not asserted).
rss=$(on $h1 docker exec berthd cat /proc/1/status 2>/dev/null | sed -n 's/^VmRSS:[[:space:]]*//p')
echo "# berthd's resident memory after start: ${rss:-unknown}"

test_expect_success 'authorized_keys: the forced command with the key name, and the no-* options' '
	test "$(on $h1 "stat -c '"'%a %U'"' /home/berth/.ssh/authorized_keys")" = "600 berth" &&
	on $h1 cat /home/berth/.ssh/authorized_keys >ak &&
	grep -qxF "command=\"/home/berth/berthd-ssh $key_name\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc $(cut -d" " -f1,2 $key.pub) $key_name" ak &&
	test "$(grep -vc "^#" ak)" = 1
'

test_expect_success 'the key reaches berthd through the forced command' '
	on $h1 /usr/sbin/sshd -f "$TEST_TMP/sshd_config" -E "$TEST_TMP/sshd.log" &&
	as_berth $key version >out 2>err || { cat err "$TEST_TMP/sshd.log"; exit 1; }
	test "$(cat out)" = "berthd $V"
'

test_expect_success 'no shell runs: a command line, or an interactive login, gets berthd' '
	rc=0 && as_berth $key sh -c id >out 2>err || rc=$?
	cat out err && test $rc != 0 && grep -q "not a berthd command" err &&
	! grep -q "uid=" out err &&
	rc=0 && as_berth $key "version; id" >out 2>err || rc=$?
	cat out err && ! grep -q "uid=" out err &&
	printf "id\nexit\n" | as_berth $key -tt >out 2>&1 || true
	cat out && ! grep -q "uid=" out && grep -q "berth@HOST" out
'

test_expect_success 'git push through the forced command builds and deploys the app behind berth-proxy' '
	as_berth $key apps:create $T >out 2>&1 || { cat out; exit 1; }
	export GIT_SSH_COMMAND="ssh -F $TEST_TMP/ssh_config -i $key" &&
	git init -q -b main app-src && printf "FROM berth-testapp:latest\n" >app-src/Dockerfile &&
	git -C app-src add Dockerfile &&
	git -C app-src -c user.name=e2e -c user.email=e2e@test commit -q -m one &&
	git -C app-src push berth@berthd-host:$T main >app-push 2>&1 || { cat app-push; exit 1; }
	cat app-push && grep -q "\[new branch\]" app-push &&
	grep -q "Application deployed: $T" app-push &&
	git ls-remote berth@berthd-host:$T >refs &&
	grep -q "^$(git -C app-src rev-parse main)	refs/heads/main$" refs &&
	curl -s --max-time 5 -H "Host: $T.test" "http://$addr/" | grep -q "^testapp version="
'

test_expect_success 'a key that was not added is refused by sshd' '
	rc=0 && as_berth "$TEST_TMP/other" version >out 2>err || rc=$?
	test $rc = 255 && grep -q "Permission denied (publickey)" err && ! test -s out &&
	rc=0 && as_berth "$LAB_KEY" version >out 2>err || rc=$?
	test $rc = 255 && grep -q "Permission denied (publickey)" err
'

test_expect_success 'a second run finds everything done, changes nothing and says so' '
	started_at >before &&
	on $h1 sha256sum /home/berth/berthd-ssh /home/berth/.ssh/authorized_keys >sums-before &&
	bootstrap --key $key.pub --key-name $key_name >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "^$h1: user berth: there$" out &&
	grep -q "^$h1: forced command /home/berth/berthd-ssh: there$" out &&
	grep -q "^$h1: berthd is running (berthd:$V)$" out &&
	grep -q "^$h1: key $key_name: there (SHA256:" out &&
	grep -q "^$h1: berthd: set up already, nothing changed$" out &&
	! grep -q "made\|written\|started\|replaced\|added\| sent\|loaded" out &&
	started_at >after && cmp before after &&
	on $h1 sha256sum /home/berth/berthd-ssh /home/berth/.ssh/authorized_keys >sums-after &&
	cmp sums-before sums-after
'

test_expect_success 'without --key it says how to add the first key' '
	bootstrap >out 2>&1 &&
	grep -q "cat ~/.ssh/id_ed25519.pub | ssh root@$h1 docker exec -i berthd berthd ssh-keys:add admin" out
'

test_expect_success 'berthd comes back when its process dies (restart policy unless-stopped)' '
	pid=$(on $h1 docker inspect --format "{{.State.Pid}}" berthd) && test "$pid" -gt 1 &&
	on $h1 kill -KILL "$pid" &&
	for i in $(seq 1 100); do
		s=$(on $h1 "docker inspect --format '"'{{.RestartCount}} {{.State.Running}}'"' berthd")
		test "$s" = "1 true" && break
		sleep 0.2
	done &&
	test "$s" = "1 true" &&
	as_berth $key version | grep -qx "berthd $V"
'

test_expect_success 'a stopped berthd is started again; one run otherwise is replaced' '
	on $h1 docker stop berthd >/dev/null &&
	bootstrap >out 2>&1 && grep -q "^$h1: berthd was stopped; started it again" out &&
	on $h1 "docker rm -f berthd >/dev/null && docker create --name berthd -v berthd:/var/lib/berthd \
		--label berth.daemon.options=other berthd:$V berthd serve >/dev/null" &&
	bootstrap >out 2>&1 && grep -q "^$h1: berthd replaced (another image, or other options)" out &&
	test "$(on $h1 "docker inspect --format '"'{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}'"' berthd")" = "true unless-stopped" &&
	as_berth $key version | grep -qx "berthd $V"
'

test_expect_success 'a container named berthd that is not berthd'"'"'s is left alone' '
	on $h1 "docker rm -f berthd >/dev/null && docker create --name berthd berth-testapp:latest >/dev/null" &&
	rc=0 && bootstrap >out 2>&1 || rc=$?
	cat out && test $rc = 1 &&
	grep -q "the name .berthd. is taken.*not berthd.s" out &&
	test "$(on $h1 "docker inspect --format '"'{{.Config.Image}}'"' berthd")" = berth-testapp:latest
'

test_done
