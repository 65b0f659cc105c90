#!/usr/bin/env bash
# Builds the example controllers (examples/*) and the runtime's test guests
# (test/guests/*) as WebAssembly reactors into _output/guests/<name>.wasm, and
# prints their sizes.
#
#   test/guests/build.sh            # everything but the large guests
#   test/guests/build.sh echo trap  # only these
#   test/guests/build.sh clientgo   # a large guest: only when named
#
# GO selects the go command (default: go). The modules are built with
# -trimpath, so they hold no paths of the machine that built them. The
# examples are also linked with -s, which drops the WebAssembly name section
# (Go's own tracebacks keep their function names): it takes about 23 KB off
# the gzipped module, which keeps the SDK-only examples under the 1 MiB a
# ConfigMap can hold, and 0.9 MB (150 KB gzipped) off sample-controller,
# the client-go example (-w would change nothing: Go writes no DWARF for
# WebAssembly; docs/porting.md has the figures). The test guests keep it,
# for readable wazero stack traces.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${root}/_output/guests"
go="${GO:-go}"
cd "${root}"

# package prints the package directory of the guest name, or fails.
package() {
  local dir
  for dir in "examples/$1" "test/guests/$1"; do
    if [[ -f "${dir}/main.go" ]]; then
      echo "${dir}"
      return
    fi
  done
  echo "unknown guest $1: no examples/$1/main.go or test/guests/$1/main.go" >&2
  return 1
}

# Guests built only when named: client-go makes a module of about 57 MB
# that takes minutes to build and compile.
large=" clientgo "

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for main in examples/*/main.go test/guests/*/main.go; do
    name="$(basename "$(dirname "${main}")")"
    if [[ "${large}" != *" ${name} "* ]]; then
      names+=("${name}")
    fi
  done
fi

mkdir -p "${out}"
for name in "${names[@]}"; do
  dir="$(package "${name}")"
  ldflags=""
  if [[ "${dir}" == examples/* ]]; then
    ldflags="-s"
  fi
  # Each example and test/guests are modules of their own: build in the
  # package's directory so its go.mod is the one that applies.
  GOOS=wasip1 GOARCH=wasm "${go}" -C "${dir}" build -trimpath -ldflags="${ldflags}" -buildmode=c-shared \
    -o "${out}/${name}.wasm" .
done

printf '%-22s %10s %10s\n' guest bytes gzipped
for name in "${names[@]}"; do
  f="${out}/${name}.wasm"
  printf '%-22s %10d %10d\n' "${name}" "$(wc -c <"${f}")" "$(gzip -9c "${f}" | wc -c)"
done
