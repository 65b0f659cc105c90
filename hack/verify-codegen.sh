#!/usr/bin/env bash
# Fails when the generated code under pkg/ differs from what
# hack/update-codegen.sh produces from the current types.
set -o errexit
set -o nounset
set -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TMP="$(mktemp -d)"
trap 'rm -rf "${TMP}"' EXIT

# Regenerate in a copy of the tree so the working tree is never touched.
tar -C "${ROOT}" --exclude=./_output --exclude=./.git -cf - . | tar -C "${TMP}" -xf -
"${TMP}/hack/update-codegen.sh" >/dev/null
if diff -Naupr "${ROOT}/pkg" "${TMP}/pkg" && diff -Nau "${ROOT}/hack/api-rules-violations.list" "${TMP}/hack/api-rules-violations.list"; then
  echo "generated code is up to date"
else
  echo "generated code is out of date: run hack/update-codegen.sh" >&2
  exit 1
fi
