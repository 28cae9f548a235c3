#!/usr/bin/env bash
# Fill .dev/ (ignored by git, carried to the device machine: ../shared/DEVICE.md)
# with what bench/device_workers.sh needs there, where there is no internet
# and no apt: wheels for its Python 3.12, and Debian's redis-server with its
# libraries. Run here, on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '.dev/' "$exclude" 2>/dev/null || echo '.dev/' >> "$exclude"
mkdir -p .dev/wheels .dev/redis/lib
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 -d .dev/wheels -r requirements.lock
unpacked=$(mktemp -d)
(cd "$unpacked" && apt-get download -q redis-server redis-tools liblzf1 libjemalloc2 liblua5.1-0 \
    && for deb in *.deb; do dpkg-deb -x "$deb" x; done)
# Debian's redis-server is redis-check-rdb under another name.
cp "$unpacked/x/usr/bin/redis-check-rdb" .dev/redis/redis-server
cp -L "$unpacked"/x/usr/lib/x86_64-linux-gnu/{liblzf.so.1,libjemalloc.so.2} .dev/redis/lib/
cp -L "$unpacked"/x/usr/lib/x86_64-linux-gnu/liblua5.1*.so.0 .dev/redis/lib/
cp -L /usr/lib/x86_64-linux-gnu/libatomic.so.1 .dev/redis/lib/
rm -rf "$unpacked"
du -sh .dev
