#!/usr/bin/env bash
# The published contract: openapi.yaml is a valid OpenAPI 3.1 document (openapi-spec-validator),
# and a running bridge answers what it says (schemathesis: no 5xx, every documented response
# matches its schema). The bridge runs on loopback only, with the in-process simulator, a store
# in a temporary directory, the demo source of config/local.toml and an unverified `open` source;
# the run is bounded in examples and time and stops by itself. Takes about 10 s once the venv and
# the debug build exist (the venv's first install adds about 20 s).
set -euo pipefail
cd "$(dirname "$0")/../.."

MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-25}
SCHEMATHESIS_TIMEOUT=${CONTRACT_TIMEOUT_SECS:-150}

started=$SECONDS
fail() {
  echo "contract: FAILED — $*"
  exit 1
}

# ---- tools: from PyPI, pinned, in a venv under target/ (reused while the pins match) --------------
# openapi-spec-validator 0.9.0 and schemathesis 4.32.5, with everything they pull in (pip freeze
# of a fresh install; bump deliberately, after `pip index versions NAME`).
venv=target/ci-venv
requirements='annotated-types==0.8.0
anyio==4.16.0
attrs==26.1.0
certifi==2026.10.18
charset-normalizer==3.5.2
click==8.5.1
graphql-core==3.3.2
harfile==0.6.0
hypothesis==6.170.15
hypothesis-graphql==0.13.5
idna==3.20
iniconfig==2.3.1
jsonschema==4.26.0
jsonschema-path==0.5.0
jsonschema-specifications==2025.9.1
jsonschema_rs==0.60.3
lazy-object-proxy==1.13.0
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
openapi-schema-validator==0.9.0
openapi-spec-validator==0.9.0
packaging==26.3
pathable==0.6.0
pluggy==1.7.0
pydantic==2.14.3
pydantic-settings==2.16.3
pydantic_core==2.50.4
Pygments==2.21.0
pyrate-limiter==4.5.1
pytest==9.2.0
python-dotenv==1.2.4
PyYAML==6.0.3
referencing==0.37.0
requests==2.34.2
rfc3339-validator==0.1.4
rich==15.0.0
rpds-py==2026.9.1
schemathesis==4.32.5
six==1.17.0
sortedcontainers==2.4.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9'
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/requirements.txt" 2>/dev/null)" != "$requirements" ]; then
  echo "installing openapi-spec-validator and schemathesis into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "cannot create a Python venv in $venv (python3 -m venv)"
  printf '%s\n' "$requirements" >"$venv/requirements.in"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
    --requirement "$venv/requirements.in" || fail "pip could not install $venv/requirements.in"
  # Written last: a venv whose install failed half-way is not reused.
  printf '%s' "$requirements" >"$venv/requirements.txt"
fi

# ---- 1. the document itself ----------------------------------------------------------------------
"$venv/bin/openapi-spec-validator" openapi.yaml || fail "openapi.yaml is not a valid OpenAPI document"

# ---- 2. a bridge to test against -----------------------------------------------------------------
cargo build --locked --quiet --bin genesys-bridge || fail "the bridge does not build"

work=$(mktemp -d "${TMPDIR:-/tmp}/genesys-bridge-contract.XXXXXX")
bridge_pid=""
stop_bridge() {
  if [ -n "$bridge_pid" ] && kill -0 "$bridge_pid" 2>/dev/null; then
    kill -TERM "$bridge_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$bridge_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$bridge_pid" 2>/dev/null || true
    wait "$bridge_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_bridge EXIT

read -r port sim_port < <("$venv/bin/python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)
token="ci-contract-admin-token-$RANDOM$RANDOM"
{
  cat <<TOML
# Written by .ci/checks/contract.sh for one run.
[server]
host = "127.0.0.1"
port = $port

[log]
level = "warn"

[simulator]
enabled = true
port = $sim_port

[genesys]
client_id = "sim-client"
client_secret = "sim-secret"

[queue]
data_dir = "$work/data"

[admin]
token = "$token"
show_values = true

TOML
  # The demo source exactly as the local profile has it: [sources.demo] and its sub-tables.
  awk '/^\[/ { keep = ($0 ~ /^\[sources\.demo[].]/) } keep' config/local.toml
  # And one without verification (loopback, this run only), so generated bodies get past the
  # signature check into parsing, mapping, dry runs and the store.
  cat <<'TOML'

[sources.open]
verifier = { type = "none" }

[sources.open.mapping]
fields = ""
unmapped = "pass"
TOML
} >"$work/contract.toml"
grep -q '^\[sources\.demo\]' "$work/contract.toml" || fail "no [sources.demo] in config/local.toml"

BRIDGE_CONFIG_DIR="$work" BRIDGE_ENV=contract \
  cargo run --locked --quiet --bin genesys-bridge -- serve >"$work/bridge.log" 2>&1 &
bridge_pid=$!

base="http://127.0.0.1:$port"
ready=0
for _ in $(seq 1 150); do
  kill -0 "$bridge_pid" 2>/dev/null || break
  if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
    "$base/health/live" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  tail -n 40 "$work/bridge.log" || true
  fail "the bridge did not answer $base/health/live within 30 s"
fi

# Deliveries for the ops API to show (one delivered, one that cannot be: its call does not exist),
# so schemathesis checks real DeliveryView bodies, not only 404s; their ids go into its config.
ids=$(BRIDGE_CONFIG_DIR="$work" BRIDGE_ENV=contract "$venv/bin/python" - "$base" "$work" <<'PY'
import json, subprocess, sys, urllib.request
base, work = sys.argv[1], sys.argv[2]
ids = []
for n, conversation in enumerate(["demo-conversation", "contract-no-such-call"]):
    body = json.dumps({"conversationId": conversation,
                       "fields": {"accountId": f"ACC-{n}", "tier": "gold", "openCase": 42,
                                  "owner": {"name": "Ann Lee"}}}).encode()
    path = f"{work}/seed-{n}.json"
    with open(path, "wb") as f:
        f.write(body)
    signed = subprocess.run(
        ["cargo", "run", "--locked", "--quiet", "--bin", "genesys-bridge", "--",
         "sign", "--source", "demo", "--file", path, "--url", base],
        check=True, capture_output=True, text=True).stdout.splitlines()
    method, url = signed[0].split(" ", 1)
    headers = dict(line.split(": ", 1) for line in signed[1:] if ": " in line)
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202, answer.status
        ids.append(json.load(answer)["delivery_id"])
print(" ".join(ids))
PY
) || fail "could not seed deliveries through POST /webhooks/demo"
read -r -a seeded <<<"$ids"
cat >"$work/schemathesis.toml" <<TOML
# Half of the generated delivery ids and source names are real ones.
[dictionaries.deliveries]
values = ["${seeded[0]}", "${seeded[1]}"]

[dictionaries.sources]
values = ["demo", "open"]

[parameters]
"path.id" = { dictionary = "deliveries", probability = 0.5 }
"path.source" = { dictionary = "sources", probability = 0.5 }
TOML

# ---- 3. the running bridge against the document --------------------------------------------------
echo "schemathesis against $base (at most $MAX_EXAMPLES examples per operation, ${SCHEMATHESIS_TIMEOUT}s at most)"
# Run from the temporary directory: hypothesis and schemathesis leave caches in the working one.
repo=$PWD
status=0
(cd "$work" && timeout --kill-after=10 "$SCHEMATHESIS_TIMEOUT" \
  "$repo/$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$repo/openapi.yaml" \
  --url "$base" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --header "Authorization: Bearer $token" \
  --generation-with-security-parameters false \
  --generation-database none \
  --request-timeout 10 \
  --workers 2 \
  --no-color) \
  || status=$?

if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  fail "schemathesis did not finish within ${SCHEMATHESIS_TIMEOUT}s"
fi
if [ "$status" != 0 ]; then
  echo "--- the bridge's log (last 40 lines)"
  tail -n 40 "$work/bridge.log" || true
  fail "schemathesis found responses that break openapi.yaml (exit $status, $((SECONDS - started))s)"
fi
if ! kill -0 "$bridge_pid" 2>/dev/null; then
  tail -n 40 "$work/bridge.log" || true
  fail "the bridge exited during the run"
fi
echo "contract: OK — openapi.yaml is valid and the bridge conforms to it ($((SECONDS - started))s)"
