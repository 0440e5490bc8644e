#!/usr/bin/env bash
# One idempotent set-up for a fresh machine (Debian 12, run as root) and a quick no-op when all is
# present: Debian packages, npm packages, the native build. `npm start`, `npm test`, `npm run build`
# and `npm run bench` call it first. WSRUN_SETUP_QUIET=1 silences the "all present" line.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Debian packages: the runtime (redis-server, git, util-linux mount), the contracts (protoc), the
# native build (g++, make, python3), benchmarks' reference tools (bubblewrap, runc, aria2, curl).
PACKAGES=(redis-server git protobuf-compiler g++ make python3 util-linux procps curl bubblewrap runc aria2 iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # the package starts a system-wide redis; wsrun runs its own private one
  if command -v systemctl >/dev/null && systemctl is-active -q redis-server 2>/dev/null; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

# npm packages: install when node_modules is missing or older than the lockfile
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  # npm ci wants every platform's optional packages in the lockfile; a lockfile written on a
  # machine whose registry lacks them cannot satisfy it, and npm install then installs the same
  # locked versions for this platform
  if ! npm ci --no-audit --no-fund --loglevel=error 2>/tmp/wsrun-npm-ci.log; then
    echo "setup: npm ci refused the lockfile ($(grep -m1 -o 'Missing: [^ ]*' /tmp/wsrun-npm-ci.log || echo 'see /tmp/wsrun-npm-ci.log')); using npm install"
    npm install --no-audit --no-fund --loglevel=error
  fi
fi

# the native addon and its stage helper (node-gyp against the installed Node headers)
native=libs/native-ns/build/Release
if [ ! -f "$native/native_ns.node" ] || [ ! -f "$native/wsrun-stage" ] ||
  [ -n "$(find libs/native-ns/src libs/native-ns/binding.gyp -newer "$native/native_ns.node" -type f -print -quit)" ]; then
  echo "setup: building libs/native-ns"
  (cd libs/native-ns && { [ -f build/Makefile ] || npx --no-install node-gyp configure --nodedir=/usr --loglevel=warn; } &&
    npx --no-install node-gyp build -j "$(nproc)" --loglevel=warn)
fi

[ "${WSRUN_SETUP_QUIET:-}" = 1 ] || echo "setup: everything is in place"
