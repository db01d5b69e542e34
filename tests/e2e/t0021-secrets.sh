#!/usr/bin/env bash
# berth secrets fetch|extract|print and Kamal's secrets-file rules.
#
# The vendors' services cannot be reached from a test, so each vendor's CLI
# (op, bw, bws, lpass, aws, gcloud, doppler, enpass-cli, passbolt) is stood
# in for by a small script on PATH that prints the output format the vendor
# documents and logs the argv it was called with: the tests check both what
# berth makes of the output and exactly how it called the CLI. No lab needed.
. "$(dirname "$0")/lib.sh"

BIN=$TEST_TMP/bin
CALLS=$TEST_TMP/calls
export CALLS
mkdir -p "$BIN"

# standin NAME BODY: a CLI that logs "NAME [arg] [arg]..." (and BW_SESSION
# when set), answers --version, then runs BODY (a bash case on "$*").
standin() {
	cat >"$BIN/$1" <<EOF
#!/usr/bin/env bash
{ printf '%s' "\${0##*/}"; for a in "\$@"; do printf ' [%s]' "\$a"; done
  if [[ -n \${BW_SESSION:-} ]]; then printf ' BW_SESSION=%s' "\$BW_SESSION"; fi; echo; } >>"\$CALLS"
case "\$*" in --version|version) echo "$1 0.0.0-standin"; exit 0 ;; esac
$2
EOF
	chmod +x "$BIN/$1"
}

standin op '
case "$*" in
"account get --account acme") exit 1 ;;
"signin --account acme --force --raw") echo "op-session-1" ;;
"item get Item --vault Vault --format json --account acme --session op-session-1 --fields label=DB_PASSWORD,label=Section.API_KEY")
	echo "[{\"id\":\"a\",\"type\":\"CONCEALED\",\"label\":\"DB_PASSWORD\",\"value\":\"op-Db-1111\",\"reference\":\"op://Vault/Item/DB_PASSWORD\"},"
	echo " {\"id\":\"b\",\"type\":\"STRING\",\"section\":{\"id\":\"s\",\"label\":\"Section\"},\"label\":\"API_KEY\",\"value\":\"op-Api-2222\",\"reference\":\"op://Vault/Item/Section/API_KEY\"}]" ;;
"item get Login --vault Vault --format json --account acme --session op-session-1 --fields label=password")
	echo "{\"id\":\"password\",\"type\":\"CONCEALED\",\"purpose\":\"PASSWORD\",\"label\":\"password\",\"value\":\"op-Pw-3333\",\"reference\":\"op://Vault/Login/password\"}" ;;
"read op://Vault/Missing/x") echo "[ERROR] item not found" >&2; exit 1 ;;
*) echo "op: unexpected call" >&2; exit 9 ;;
esac'

standin bw '
case "$*" in
status)
	if [[ -n ${BW_SESSION:-} ]]; then s=unlocked; else s=locked; fi
	echo "{\"serverUrl\":null,\"lastSync\":\"2024-01-01T00:00:00.000Z\",\"userEmail\":\"me@example.com\",\"userId\":\"u-1\",\"status\":\"$s\"}" ;;
"unlock --raw") printf "bw-session-2" ;;
sync) echo "Syncing complete." ;;
"get item Item")
	echo "{\"object\":\"item\",\"id\":\"i-1\",\"name\":\"Item\",\"type\":1,\"login\":{\"username\":\"me\",\"password\":\"bw-Pw-4444\"},\"fields\":[{\"name\":\"TOKEN\",\"value\":\"bw-Tok-5555\",\"type\":1}]}" ;;
*) echo "bw: unexpected call" >&2; exit 9 ;;
esac'

standin bws '
case "$*" in
"project list") echo "[]" ;;
"secret get 6f3a-uuid")
	echo "{\"object\":\"secret\",\"id\":\"6f3a-uuid\",\"organizationId\":\"o\",\"projectId\":\"p\",\"key\":\"BWS_KEY\",\"value\":\"bws-Val-6666\",\"note\":\"\"}" ;;
"secret list proj-1")
	echo "[{\"object\":\"secret\",\"id\":\"1\",\"key\":\"L1\",\"value\":\"bws-L1-7777\"},{\"object\":\"secret\",\"id\":\"2\",\"key\":\"L2\",\"value\":\"bws-L2-8888\"}]" ;;
*) echo "bws: unexpected call" >&2; exit 9 ;;
esac'

standin lpass '
case "$*" in
"status --color never") echo "Logged in as me@example.com." ;;
"show Folder/A Folder/B --json")
	echo "[{\"id\":\"1\",\"name\":\"A\",\"fullname\":\"Folder/A\",\"username\":\"\",\"password\":\"lp-A-9999\",\"last_modified_gmt\":\"0\",\"last_touch\":\"0\",\"group\":\"Folder\",\"url\":\"\",\"note\":\"\"},"
	echo " {\"id\":\"2\",\"name\":\"B\",\"fullname\":\"Folder/B\",\"username\":\"\",\"password\":\"lp-B-1010\",\"group\":\"Folder\",\"url\":\"\",\"note\":\"\"}]" ;;
*) echo "lpass: unexpected call" >&2; exit 9 ;;
esac'

standin aws '
case "$*" in
"secretsmanager batch-get-secret-value --secret-id-list app/db app/key --profile prod --output json")
	cat <<JSON
{"SecretValues":[{"ARN":"arn:aws:secretsmanager:eu-west-1:1:secret:app/db","Name":"app/db","VersionId":"v","SecretString":"{\"user\":\"app\",\"password\":\"aws-Db-1212\"}","VersionStages":["AWSCURRENT"],"CreatedDate":"2024-01-01T00:00:00+00:00"},
 {"ARN":"arn:2","Name":"app/key","VersionId":"v","SecretString":"aws-Key-1313","VersionStages":["AWSCURRENT"]}],"Errors":[]}
JSON
	;;
*) echo "aws: unexpected call" >&2; exit 9 ;;
esac'

standin gcloud '
case "$*" in
"auth list --format=json") echo "[{\"account\":\"me@example.com\",\"status\":\"ACTIVE\"}]" ;;
"secrets versions access latest --secret=db --project=proj --account=me@example.com --impersonate-service-account=sa@proj.iam.gserviceaccount.com --format=json")
	echo "{\"name\":\"projects/1/secrets/db/versions/3\",\"payload\":{\"data\":\"$(printf gcp-Db-1414 | base64)\",\"dataCrc32c\":\"1\"}}" ;;
*) echo "gcloud: unexpected call" >&2; exit 9 ;;
esac'

standin doppler '
case "$*" in
"me --json") echo "{\"name\":\"me\"}" ;;
"secrets get A B --json -p proj -c prd")
	echo "{\"A\":{\"computed\":\"dop-A-1515\",\"computedVisibility\":\"masked\",\"note\":\"\"},\"B\":{\"computed\":\"dop-B-1616\",\"note\":\"\"}}" ;;
*) echo "doppler: unexpected call" >&2; exit 9 ;;
esac'

standin enpass-cli '
case "$*" in
"-json -vault /vaults/primary show FooBar")
	echo "[{\"category\":\"computer\",\"label\":\"SECRET_1\",\"login\":\"\",\"password\":\"enp-1-1717\",\"title\":\"FooBar\",\"type\":\"password\"},{\"category\":\"computer\",\"label\":\"SECRET_2\",\"login\":\"\",\"password\":\"enp-2-1818\",\"title\":\"FooBar\",\"type\":\"password\"}]" ;;
*) echo "enpass-cli: unexpected call" >&2; exit 9 ;;
esac'

standin passbolt '
case "$*" in
verify) echo "ok" ;;
"list folders --filter Name == \"my-project\" --json")
	echo "[{\"id\":\"dcbe-1\",\"folder_parent_id\":\"\",\"name\":\"my-project\",\"created_timestamp\":\"2025-02-21T19:52:50Z\"}]" ;;
"list resources --filter (Name == \"S1\" && FolderParentID == \"dcbe-1\") || Name == \"ROOT\" --folder dcbe-1 --column name --column password --json")
	echo "[{\"id\":\"r1\",\"folder_parent_id\":\"dcbe-1\",\"name\":\"S1\",\"username\":\"\",\"uri\":\"\",\"password\":\"pb-S1-1919\",\"description\":\"\"},{\"id\":\"r2\",\"folder_parent_id\":\"\",\"name\":\"ROOT\",\"password\":\"pb-R-2020\"}]" ;;
*) echo "passbolt: unexpected call" >&2; exit 9 ;;
esac'

export PATH=$BIN:$PATH
all_values='op-Db-1111|op-Api-2222|op-Pw-3333|bw-Pw-4444|bw-Tok-5555|bws-Val-6666|bws-L1-7777|bws-L2-8888|lp-A-9999|lp-B-1010|aws-Db-1212|aws-Key-1313|gcp-Db-1414|dop-A-1515|dop-B-1616|enp-1-1717|enp-2-1818|pb-S1-1919|pb-R-2020'

# fetch_is 'ARGS' 'JSON' 'CALL...': berth secrets fetch ARGS prints JSON, and
# the CLI was called with exactly the CALL lines (and its --version check).
fetch_is() {
	: >"$CALLS"
	eval "\"\$BERTH\" secrets fetch $1" >"$TEST_TMP/fetch.out"
	jq -e --argjson want "$2" '. == $want' "$TEST_TMP/fetch.out" ||
		{ cat "$TEST_TMP/fetch.out"; return 1; }
	shift 2
	printf '%s\n' "$@" >"$TEST_TMP/want.calls"
	diff -u "$TEST_TMP/want.calls" "$CALLS"
}

test_expect_success '1password: sign in, one op item get per item, fields by label' '
	fetch_is "--adapter 1password --account acme --from Vault Item/DB_PASSWORD Item/Section/API_KEY" \
		"{\"Vault/Item/DB_PASSWORD\":\"op-Db-1111\",\"Vault/Item/Section/API_KEY\":\"op-Api-2222\"}" \
		"op [--version]" \
		"op [account] [get] [--account] [acme]" \
		"op [signin] [--account] [acme] [--force] [--raw]" \
		"op [item] [get] [Item] [--vault] [Vault] [--format] [json] [--account] [acme] [--session] [op-session-1] [--fields] [label=DB_PASSWORD,label=Section.API_KEY]" &&
	fetch_is "--adapter 1password --account acme op://Vault/Login" \
		"{\"Vault/Login\":\"op-Pw-3333\"}" \
		"op [--version]" \
		"op [account] [get] [--account] [acme]" \
		"op [signin] [--account] [acme] [--force] [--raw]" \
		"op [item] [get] [Login] [--vault] [Vault] [--format] [json] [--account] [acme] [--session] [op-session-1] [--fields] [label=password]"
'

test_expect_success 'bitwarden: unlock, sync and get item with BW_SESSION in the environment' '
	fetch_is "-a bitwarden --account me@example.com Item Item/TOKEN" \
		"{\"Item/TOKEN\":\"bw-Tok-5555\"}" \
		"bw [--version]" \
		"bw [status]" \
		"bw [unlock] [--raw]" \
		"bw [status] BW_SESSION=bw-session-2" \
		"bw [sync] BW_SESSION=bw-session-2" \
		"bw [get] [item] [Item] BW_SESSION=bw-session-2" &&
	fetch_is "-a bitwarden --account me@example.com Item" "{\"Item\":\"bw-Pw-4444\"}" \
		"bw [--version]" "bw [status]" "bw [unlock] [--raw]" \
		"bw [status] BW_SESSION=bw-session-2" "bw [sync] BW_SESSION=bw-session-2" \
		"bw [get] [item] [Item] BW_SESSION=bw-session-2"
'

test_expect_success 'bitwarden-sm: secret get by id, secret list of a project' '
	fetch_is "--adapter bitwarden-sm 6f3a-uuid" "{\"BWS_KEY\":\"bws-Val-6666\"}" \
		"bws [--version]" "bws [project] [list]" "bws [secret] [get] [6f3a-uuid]" &&
	fetch_is "--adapter bitwarden-sm --from proj-1 all" \
		"{\"L1\":\"bws-L1-7777\",\"L2\":\"bws-L2-8888\"}" \
		"bws [--version]" "bws [project] [list]" "bws [secret] [list] [proj-1]"
'

test_expect_success 'lastpass: one lpass show for every name' '
	fetch_is "--adapter lastpass --account me@example.com --from Folder A B" \
		"{\"Folder/A\":\"lp-A-9999\",\"Folder/B\":\"lp-B-1010\"}" \
		"lpass [--version]" "lpass [status] [--color] [never]" \
		"lpass [show] [Folder/A] [Folder/B] [--json]"
'

test_expect_success 'aws_secrets_manager: batch-get-secret-value, JSON secrets by key' '
	fetch_is "--adapter aws_secrets_manager --account prod --from app db key" \
		"{\"app/db/user\":\"app\",\"app/db/password\":\"aws-Db-1212\",\"app/key\":\"aws-Key-1313\"}" \
		"aws [--version]" \
		"aws [secretsmanager] [batch-get-secret-value] [--secret-id-list] [app/db] [app/key] [--profile] [prod] [--output] [json]"
'

test_expect_success 'gcp: secrets versions access with account and impersonation' '
	fetch_is "--adapter gcp --account \"me@example.com|sa@proj.iam.gserviceaccount.com\" proj/db" \
		"{\"proj/db\":\"gcp-Db-1414\"}" \
		"gcloud [--version]" "gcloud [auth] [list] [--format=json]" \
		"gcloud [secrets] [versions] [access] [latest] [--secret=db] [--project=proj] [--account=me@example.com] [--impersonate-service-account=sa@proj.iam.gserviceaccount.com] [--format=json]"
'

test_expect_success 'doppler: secrets get with project and config from --from' '
	fetch_is "--adapter doppler --from proj/prd A B" \
		"{\"A\":\"dop-A-1515\",\"B\":\"dop-B-1616\"}" \
		"doppler [--version]" "doppler [me] [--json]" \
		"doppler [secrets] [get] [A] [B] [--json] [-p] [proj] [-c] [prd]"
'

test_expect_success 'enpass: show the titles of a vault, keep what was asked' '
	fetch_is "--adapter enpass --from /vaults/primary FooBar/SECRET_2" \
		"{\"FooBar/SECRET_2\":\"enp-2-1818\"}" \
		"enpass-cli [version]" "enpass-cli [-json] [-vault] [/vaults/primary] [show] [FooBar]"
'

test_expect_success 'passbolt: folders, then resources filtered by folder' '
	fetch_is "--adapter passbolt my-project/S1 ROOT" \
		"{\"S1\":\"pb-S1-1919\",\"ROOT\":\"pb-R-2020\"}" \
		"passbolt [--version]" "passbolt [verify]" \
		"passbolt [list] [folders] [--filter] [Name == \"my-project\"] [--json]" \
		"passbolt [list] [resources] [--filter] [(Name == \"S1\" && FolderParentID == \"dcbe-1\") || Name == \"ROOT\"] [--folder] [dcbe-1] [--column] [name] [--column] [password] [--json]"
'

test_expect_success 'no value ever reaches a CLI argv' '
	! grep -E "$all_values" "$CALLS"
'

test_expect_success 'errors: a missing CLI, an unknown adapter, a missing --account' '
	test_must_fail env PATH=/usr/bin:/bin "$BERTH" secrets fetch --adapter doppler A 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "the Doppler CLI is not installed" &&
	test_must_fail "$BERTH" secrets fetch --adapter keepass A 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "unknown secrets adapter .keepass." &&
	test_must_fail "$BERTH" secrets fetch --adapter 1password A 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "missing required option .--account."
'

test_expect_success 'extract picks a value by name or by the end of its name' '
	json="{\"Vault/Item/DB_PASSWORD\":\"x y\",\"B\":\"b\"}" &&
	test "$("$BERTH" secrets extract DB_PASSWORD "$json")" = "x y" &&
	test "$("$BERTH" secrets extract B "$json")" = b &&
	test_must_fail "$BERTH" secrets extract C "$json" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "could not find secret C"
'

P=$TEST_TMP/project
mkdir -p "$P/config" "$P/.kamal"
cat >"$P/config/deploy.yml" <<'YML'
service: shop
image: acme/shop
builder:
  arch: amd64
servers: [10.0.0.1]
proxy:
  app_port: 3000
registry:
  username: acme
  password: [KAMAL_REGISTRY_PASSWORD]
env:
  secret: [DB_PASSWORD, API_KEY, OPTIONAL, PORT_LIKE]
YML
cat >"$P/config/deploy.staging.yml" <<'YML'
servers: [10.0.0.2]
YML
# a Kamal project's secrets file, as `kamal init` and Kamal's docs write them
cat >"$P/.kamal/secrets-common" <<'SEC'
SECRETS=$(kamal secrets fetch --adapter 1password --account acme --from Vault Item/DB_PASSWORD Item/Section/API_KEY)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD ${SECRETS})
API_KEY=$(berth secrets extract API_KEY $SECRETS)
OPTIONAL=$(op read op://Vault/Missing/x 2>/dev/null)
PORT_LIKE=3000
KAMAL_REGISTRY_PASSWORD=$T0021_REGISTRY
SHARED=from-common
SEC
cat >"$P/.kamal/secrets.staging" <<'SEC'
SEEN_SHARED=[$SHARED]
DEST=$KAMAL_DESTINATION/$(printf %s "$BERTH_DESTINATION")
SEC
export T0021_REGISTRY=reg-Env-2121
export SHARED=from-env

test_expect_success 'a Kamal secrets file works with no Kamal installed' '
	! command -v kamal &&
	: >"$CALLS" &&
	(cd "$P" && "$BERTH" secrets print) >"$TEST_TMP/print" &&
	grep -qx "DB_PASSWORD=op-Db-1111" "$TEST_TMP/print" &&
	grep -qx "API_KEY=op-Api-2222" "$TEST_TMP/print" &&
	grep -qx "KAMAL_REGISTRY_PASSWORD=reg-Env-2121" "$TEST_TMP/print" &&
	grep -qx "PORT_LIKE=3000" "$TEST_TMP/print" &&
	grep_q "$TEST_TMP/print" "^SECRETS=" &&
	grep_q "$CALLS" "^op \[item\] \[get\] \[Item\]"
'

test_expect_success 'a failing command gives an empty value, as in Kamal' '
	grep -qx "OPTIONAL=" "$TEST_TMP/print" &&
	grep_q "$CALLS" "^op \[read\] \[op://Vault/Missing/x\]"
'

test_expect_success 'each file on its own; KAMAL_DESTINATION and BERTH_DESTINATION are set' '
	(cd "$P" && "$BERTH" secrets print -d staging) >"$TEST_TMP/print-staging" &&
	grep -qx "SEEN_SHARED=\[from-env\]" "$TEST_TMP/print-staging" &&
	grep -qx "DEST=staging/staging" "$TEST_TMP/print-staging" &&
	grep -qx "SHARED=from-common" "$TEST_TMP/print-staging"
'

test_expect_success 'berth config runs no secret command and shows fields as they are' '
	: >"$CALLS" &&
	printf "PROMPT=\$(touch \"%s/ran\"; read -r x; echo \$x)\n" "$TEST_TMP" >"$P/.kamal/secrets" &&
	(cd "$P" && "$BERTH" config --json) >"$TEST_TMP/config.json" &&
	(cd "$P" && "$BERTH" config -d staging) >"$TEST_TMP/config.yml" &&
	test ! -e "$TEST_TMP/ran" && test ! -s "$CALLS" &&
	jq -e ".proxy.app_port == 3000 and .service == \"shop\" and .registry.password == \"[REDACTED]\"" \
		"$TEST_TMP/config.json" &&
	grep_q "$TEST_TMP/config.yml" "10.0.0.2" &&
	! grep -E "$all_values|reg-Env-2121" "$TEST_TMP/config.json" "$TEST_TMP/config.yml"
'

test_expect_success 'berth config does not fail on a secret no file sets; deploy does, early' '
	printf "service: shop\nimage: acme/shop\nservers: [10.0.0.1]\nbuilder: {arch: amd64}\nenv:\n  secret: [NOPE]\n" \
		>"$P/config/missing.yml" &&
	(cd "$P" && "$BERTH" config -c config/missing.yml) >/dev/null &&
	(cd "$P" && test_must_fail "$BERTH" deploy -c config/missing.yml) 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "NOPE" &&
	grep_q "$TEST_TMP/err" "\.kamal/secrets-common or \.kamal/secrets"
'

test_done
