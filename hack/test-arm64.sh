#!/usr/bin/env bash
# Runs tests built for linux/arm64 under qemu user-mode emulation (make
# test-arm64). Each argument is PACKAGE:REGEXP; a regexp that matches no test
# fails, so that a renamed test cannot drop out unnoticed.
#
# Environment: GO (default go), QEMU_AARCH64 (the emulator), CI (when set, a
# missing emulator fails instead of skipping).
set -euo pipefail

GO="${GO:-go}"
QEMU_AARCH64="${QEMU_AARCH64:-qemu-aarch64-static}"
if ! command -v "${QEMU_AARCH64}" >/dev/null; then
  msg="test-arm64: ${QEMU_AARCH64} not found (apt-get install qemu-user-static)"
  if [[ -n "${CI:-}" ]]; then
    echo "${msg}" >&2
    exit 1
  fi
  echo "${msg}: skipped"
  exit 0
fi

for spec in "$@"; do
  pkg="${spec%%:*}" run="${spec#*:}"
  echo "GOARCH=arm64 ${GO} test -exec ${QEMU_AARCH64} -run '^(${run})\$' ${pkg}"
  out="$(GOARCH=arm64 "${GO}" test -count=1 -timeout 15m -v -exec "${QEMU_AARCH64}" -run "^(${run})\$" "${pkg}" 2>&1)" || {
    echo "${out}"
    exit 1
  }
  grep -E '^(--- |ok|PASS|FAIL)' <<<"${out}"
  if ! grep -q '^--- PASS' <<<"${out}"; then
    echo "test-arm64: ${run} matched no test in ${pkg}" >&2
    exit 1
  fi
done
