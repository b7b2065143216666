#!/usr/bin/env bash
# S3 figures on the project's Ceph RGW (loopback), in one run: cold and warm sequential read
# of one file through artifs, s3fs and rclone mount on the same server, the server's own
# ceiling (one curl GET of the same bytes), random 4 KiB reads (fio, 10 s, warm) and the
# artifs daemon's peak RSS. Usage: tests/bench/s3.sh [SIZE_MIB] (default 1024). Installs
# s3fs, rclone and fio when missing. Never fails on speed.
set -euo pipefail
SIZE=${1:-1024}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ARTIFS_BIN:-$here/../build/artifs}
need=""
for p in s3fs rclone fio; do command -v $p >/dev/null || need="$need $p"; done
if [ -n "$need" ]; then
	apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $need >/dev/null
fi
T=$(mktemp -d /var/tmp/artifs-s3bench.XXXXXX)
PIDS=()
cleanup() {
	for m in "$T"/m-*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m"; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$here/s3/server.sh" stop "$T/rgw" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/rgw" "$T/m-artifs" "$T/m-s3fs" "$T/m-rclone"
port=$("$here/s3/free-port.py" 40000)
eval "$("$here/s3/server.sh" start "$T/rgw" "$port" 2>"$T/rgw.log")"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
unset AWS_CA_BUNDLE
sc() { curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
sc -X PUT "$AWS_ENDPOINT_URL/bench" >/dev/null
sc -X PUT "$AWS_ENDPOINT_URL/plain" >/dev/null
head -c $((SIZE << 20)) /dev/urandom >"$T/src"
sc -X PUT -T "$T/src" "$AWS_ENDPOINT_URL/plain/f" >/dev/null

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$SIZE/($2-$1):8.1f}')"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
wait_mount() { for _ in $(seq 400); do mountpoint -q "$1" && return; sleep 0.05; done; echo "no mount at $1"; exit 1; }

artifs_mount() {
	rm -rf "$T/cache"
	"$BIN" mount -f -o "store=s3://bench/a,state=$T/state,cache=$T/cache,refresh=0" "$T/m-artifs" \
		2>>"$T/artifs.log" &
	APID=$!
	PIDS+=("$APID")
	wait_mount "$T/m-artifs"
}
artifs_mount
mkdir -p "$T/m-artifs/b/big"
cp "$T/src" "$T/m-artifs/b/big/f"
setfattr -n user.artifs.commit -v bench "$T/m-artifs/b/big"
fusermount3 -u "$T/m-artifs"; wait "$APID" || true
artifs_mount
F_artifs=$T/m-artifs/b/big/@v1/f

printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/passwd"
chmod 600 "$T/passwd"
s3fs plain "$T/m-s3fs" -o "passwd_file=$T/passwd,url=$AWS_ENDPOINT_URL,use_path_request_style,endpoint=us-east-1"
wait_mount "$T/m-s3fs"
F_s3fs=$T/m-s3fs/f
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph \
	RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
	RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
	RCLONE_CONFIG_RGW_ENDPOINT=$AWS_ENDPOINT_URL
rclone mount rgw:plain "$T/m-rclone" --read-only 2>>"$T/rclone.log" &
PIDS+=("$!")
wait_mount "$T/m-rclone"
F_rclone=$T/m-rclone/f

t0=$(now); sc -o /dev/null "$AWS_ENDPOINT_URL/plain/f"; t1=$(now)
ceiling=$(rate "$t0" "$t1")
printf '%-22s %12s %12s %14s\n' "$SIZE MiB, MiB/s" "cold seq" "warm seq" "rand 4K IOPS"
for fs in artifs s3fs rclone; do
	f=F_$fs
	drop
	t0=$(now); cat "${!f}" >/dev/null; t1=$(now); cold=$(rate "$t0" "$t1")
	t0=$(now); cat "${!f}" >/dev/null; t1=$(now); warm=$(rate "$t0" "$t1")
	iops=$(fio --name=r --filename="${!f}" --rw=randread --bs=4k --runtime=10 --time_based \
		--ioengine=psync --readonly --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))' || echo n/a)
	printf '%-22s %12s %12s %14s\n' "$fs" "$cold" "$warm" "$iops"
done
printf '%-22s %12s\n' "curl GET (ceiling)" "$ceiling"
printf 'artifs daemon peak RSS: %s MiB\n' "$(awk '/VmHWM/ {print int($2/1024)}' /proc/$APID/status)"
