#!/usr/bin/env bash
# Runs a command with the project's Ceph RGW test server up on a free loopback port:
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL and ARTIFS_S3_ENDPOINT are set
# for it, and the server is stopped afterwards, also when the command fails.
# Usage: tests/s3/with-server.sh COMMAND [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /var/tmp/artifs-rgw.XXXXXX)
stop() { "$here/server.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap stop EXIT
port=$("$here/free-port.py" 30000)
eval "$("$here/server.sh" start "$dir" "$port")"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
export ARTIFS_S3_ENDPOINT=$AWS_ENDPOINT_URL
"$@"
