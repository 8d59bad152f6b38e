#!/usr/bin/env bash
# Installs MQTT.js, at the version package-lock.json pins, into tests/integration/node/node_modules
# for the MQTT.js integration tests. Does nothing when that version is already there.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null; then
    echo "install.sh: npm not found; deploy/install-deps.sh test installs Node.js" >&2
    exit 1
fi
wanted=$(node -p "require('./package-lock.json').packages['node_modules/mqtt'].version")
installed=$(node -p "try { require('./node_modules/mqtt/package.json').version } catch { '' }")
if [ "$installed" = "$wanted" ]; then
    echo "install.sh: mqtt $wanted already installed"
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "install.sh: mqtt $wanted installed"
