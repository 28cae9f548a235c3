#!/usr/bin/env bash
# The --workers scaling run on the 16-core device machine (../shared/DEVICE.md),
# from its repository root, carrying .dev (see bench/prepare_device.sh):
#   bash bench/device_workers.sh [bench.workers arguments]
# The table goes to $OUT/workers.md and the raw figures to $OUT/workers.json.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --target /tmp/site .dev/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
export PATH="$PWD/.dev/redis:$PATH" LD_LIBRARY_PATH="$PWD/.dev/redis/lib"
out=${OUT:-/tmp}
databases=sqlite
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && databases=sqlite,postgresql
ulimit -n "$(ulimit -Hn)"
timeout 540 python3 -m bench.workers --databases "$databases" --workers 2,4,8 \
    --loadgens 8 --clients 500 --server-cores 8 --with-redis-baseline \
    --json "$out/workers.json" "$@" | tee "$out/workers.md"
