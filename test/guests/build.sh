#!/usr/bin/env bash
# Builds the example controllers (examples/*) and the runtime's test guests
# (test/guests/*) as WebAssembly reactors into _output/guests/<name>.wasm, and
# prints their sizes.
#
#   test/guests/build.sh            # everything
#   test/guests/build.sh echo trap  # only these
#
# GO selects the go command (default: go). The modules are built with
# -trimpath, so they hold no paths of the machine that built them. The
# examples are also linked with -s, which drops the WebAssembly name section
# (Go's own tracebacks keep their function names): it takes about 23 KB off
# the gzipped module, which keeps the examples under the 1 MiB a ConfigMap
# can hold. The test guests keep it, for readable wazero stack traces.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${root}/_output/guests"
go="${GO:-go}"
cd "${root}"

declare -A pkgs=()
for dir in examples/*/ test/guests/*/; do
  dir="${dir%/}"
  [[ -f "${dir}/main.go" ]] || continue
  pkgs["$(basename "${dir}")"]="./${dir}"
done

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  mapfile -t names < <(printf '%s\n' "${!pkgs[@]}" | sort)
fi

mkdir -p "${out}"
for name in "${names[@]}"; do
  pkg="${pkgs[${name}]:-}"
  if [[ -z "${pkg}" ]]; then
    echo "unknown guest ${name}; known: ${!pkgs[*]}" >&2
    exit 1
  fi
  ldflags=""
  [[ "${pkg}" == ./examples/* ]] && ldflags="-s"
  GOOS=wasip1 GOARCH=wasm "${go}" build -trimpath -ldflags="${ldflags}" -buildmode=c-shared -o "${out}/${name}.wasm" "${pkg}"
done

printf '%-22s %12s %12s\n' guest bytes gzip-bytes
for name in "${names[@]}"; do
  f="${out}/${name}.wasm"
  printf '%-22s %12d %12d\n' "${name}" "$(wc -c <"${f}")" "$(gzip -9c "${f}" | wc -c)"
done
