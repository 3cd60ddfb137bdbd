#!/usr/bin/env bash
# Builds h2spec, the HTTP/2 conformance suite, from the copy in test/vendor/h2spec, offline:
# Debian's Go (golang-go) in GOPATH mode (GO111MODULE=off), its three third-party imports taken
# from Debian's -dev packages under /usr/share/gocode/src:
#
#   golang-github-spf13-cobra-dev    github.com/spf13/cobra (and spf13/pflag, a dependency)
#   golang-github-fatih-color-dev    github.com/fatih/color (and mattn/go-colorable, go-isatty)
#   golang-golang-x-net-dev          golang.org/x/net/http2, golang.org/x/net/http2/hpack
#
# The binary goes to $H2SPEC_DIR (default ~/.cache/spoke-ci/h2spec) and is rebuilt only when the
# vendored source or the Go version changes. Prints the binary's path on stdout; a missing
# toolchain or package is one line on stderr and exit 1. test/h2spec.test.ts runs this script
# (a no-op once built); docs/conformance.md has the whole procedure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
src="$root/test/vendor/h2spec"
dir="${H2SPEC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spoke-ci/h2spec}"
bin="$dir/h2spec"
gocode=/usr/share/gocode/src
packages="golang-go golang-github-spf13-cobra-dev golang-github-fatih-color-dev golang-golang-x-net-dev"

fail() {
  echo "build-h2spec: $*; needs the Debian packages: $packages" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || fail "no go command"
for import in github.com/spf13/cobra github.com/fatih/color golang.org/x/net/http2; do
  [ -d "$gocode/$import" ] || fail "$gocode/$import is missing"
done

# The cache key: every vendored file and the compiler.
key=$(cd "$src" && { find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; go version; } | sha256sum | cut -c1-16)
if [ -x "$bin" ] && [ "$(cat "$dir/key" 2>/dev/null)" = "$key" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$dir"
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/github.com/summerwind"
ln -s "$src" "$gopath/src/github.com/summerwind/h2spec"
commit=$(sed -nE 's/^commit: *([0-9a-f]{40}).*/\1/p' "$src/README.md")
(
  cd "$gopath/src/github.com/summerwind/h2spec/cmd/h2spec"
  GO111MODULE=off GOPATH="$gopath:${gocode%/src}" GOFLAGS= GOPROXY=off CGO_ENABLED=0 \
    GOCACHE="$gopath/cache" \
    go build -trimpath -ldflags "-X main.VERSION=2.6.0 -X main.COMMIT=$commit" -o "$bin.$$" .
) || fail "go build failed"
mv -f "$bin.$$" "$bin"
echo "$key" >"$dir/key"
echo "$bin"
