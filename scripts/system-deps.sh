#!/usr/bin/env bash
# The Debian packages the test suite starts as real parts: redis-server, redis-cli (creates the test
# Redis Cluster), nginx (the CDN stand-in), promtool (alert rules), chromium (the browser page),
# etcd, kubectl and openssl (the real kube-apiserver tier in test/kube; scripts/kube-apiserver.sh
# installs its Go toolchain itself), faketime, with which CI runs the suite a second time with the
# clock 400 days ahead, wrk, which drives the benchmarks in bench/, and libjemalloc2, the allocator
# the image preloads (bench/variants.ts runs darkroom with it, as the image does).
# Installs the missing ones when it can (root with apt-get); otherwise names them and fails, so no
# test is silently skipped.
set -euo pipefail

declare -A package_for=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [nginx]=nginx-light
  [promtool]=prometheus
  [chromium]=chromium
  [etcd]=etcd-server
  [kubectl]=kubernetes-client
  [openssl]=openssl
  [faketime]=faketime
  [wrk]=wrk
)

# Shared libraries, by file name in ldconfig's cache.
declare -A package_for_library=(
  [libjemalloc.so.2]=libjemalloc2
)

missing=()
for library in "${!package_for_library[@]}"; do
  if ! ldconfig -p 2>/dev/null | grep -q "/${library}\$"; then
    missing+=("${package_for_library[$library]}")
  fi
done
for binary in "${!package_for[@]}"; do
  if ! command -v "$binary" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$binary" ] && [ ! -x "/usr/bin/$binary" ]; then
    missing+=("${package_for[$binary]}")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi

echo "system-deps: the test suite needs these Debian packages: ${missing[*]}" >&2
echo "system-deps: install them (sudo apt-get install ${missing[*]}) and run the tests again." >&2
exit 1
