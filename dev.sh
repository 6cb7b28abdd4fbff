#!/usr/bin/env bash
# dev.sh - the two commands of the README's quick start, on Debian 12 as root.
#
#   ./dev.sh run    install what is missing, build, and start the server with
#                   the default configuration (it scrapes itself, keeps its
#                   data in ./data, serves on http://127.0.0.1:9090)
#   ./dev.sh test   install what is missing, build, and run the whole test
#                   suite: a -Werror build, then an ASan+UBSan build; ends
#                   with "N passed, N failed" over every test level
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

build_deps="build-essential autoconf automake pkg-config re2c bison liblmdb-dev libsnappy-dev
  libmicrohttpd-dev libpcre2-dev libxxhash-dev libcmocka-dev libjemalloc-dev
  libyaml-dev libcurl4-openssl-dev libssl-dev libcrypt-dev zlib1g-dev libjansson-dev libdeflate-dev"
test_deps="clang libclang-rt-14-dev python3 prometheus prometheus-node-exporter prometheus-alertmanager curl openssl"

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "dev.sh: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "dev.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  # Packages such as prometheus start a service when installed; the tests
  # run their own instances, so keep services from starting meanwhile.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
}

# build DIR [configure flags...]: an out-of-tree build in DIR.
build() {
  local dir=$1; shift
  [ -x "$here/configure" ] && [ "$here/configure" -nt "$here/configure.ac" ] || (cd "$here" && autoreconf -fi >/dev/null 2>&1 || autoreconf -fi)
  mkdir -p "$dir"
  (cd "$dir" && { [ -f Makefile ] && [ config.status -nt "$here/configure" ] || "$here/configure" -q "$@"; } && make -s -j"$jobs")
}

case "${1:-}" in
run)
  install_missing $build_deps
  build "$here/build" --enable-werror
  ln -sf build/promlite promlite
  echo "dev.sh: starting promlite: http://127.0.0.1:9090 (data in ./data; Ctrl-C stops it)" >&2
  exec ./promlite server --config.file examples/promlite.yml --storage.tsdb.path ./data
  ;;
test)
  install_missing $build_deps $test_deps
  rc=0
  build "$here/build" --enable-werror
  (cd "$here/build" && make -s -j"$jobs" check) || rc=1
  build "$here/build-asan" --enable-werror --enable-sanitizers
  (cd "$here/build-asan" && make -s -j"$jobs" check) || rc=1
  sh "$here/tests/summarize.sh" "$here/build" "$here/build-asan" || rc=1
  exit $rc
  ;;
*)
  echo "usage: ./dev.sh run|test" >&2
  exit 2
  ;;
esac
