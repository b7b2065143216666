#!/usr/bin/env bash
# The bench suite (`make bench`, docs/benchmarks.md): artifs next to its baselines in the same
# run, interleaved (every round measures each system in turn), one table at the end with
# medians, min-max and ratios to each row's baseline. Never fails on speed.
#
#   tests/bench/run.sh            full sizes (1 GiB files, 10,000 files, 100,000 versions)
#   QUICK=1 tests/bench/run.sh    a small version of every scenario (< 2 minutes; fio 2 rounds)
#
# Overrides: BENCH_ROUNDS, BENCH_ONLY="1 2 s3 ..." (scenario subset), BENCH_KEEP=1 (keep the
# work directory), ARTIFS_BIN. Needs root (drop_caches, mounts); installs fio, s3fs, rclone
# and the Ceph packages of tests/s3/server.sh when missing.
#
# Systems: native (a plain directory on the filesystem of the store), pt and pt-always
# (libfuse's passthrough_ll example, compiled here, over a plain directory: as shipped, and
# with -o cache=always), artifs (local store); on S3 (Ceph RGW on loopback): artifs-s3, s3fs
# and rclone (rclone mount) on the same server, and curl (one GET: the server's ceiling).
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"

if [ -n "${QUICK:-}" ]; then
	BIG=64 FILES=300 S3_FILES=100 XFILES=200 CHURN=20 VERSIONS=10000 FIO_RT=100ms TREE=16
	ROUNDS=${BENCH_ROUNDS:-3} FIO_ROUNDS=${BENCH_ROUNDS:-2} # fio spends ~0.3 s per job starting
else
	BIG=1024 FILES=10000 S3_FILES=${BENCH_S3_FILES:-10000} XFILES=1000 CHURN=200 TREE=256
	VERSIONS=100000 FIO_RT=3s ROUNDS=${BENCH_ROUNDS:-3} FIO_ROUNDS=${BENCH_ROUNDS:-3}
fi
ONLY=" ${BENCH_ONLY:-1 2 3 4 5 6 7 8 9 10 11 12 s3} "
want() { [[ $ONLY == *" $1 "* ]]; }

[ "$(id -u)" = 0 ] || { echo "bench: needs root (drop_caches, FUSE mounts)"; exit 1; }
[ -x "$BIN" ] || { echo "bench: no artifs binary at $BIN (make first)"; exit 1; }
need=""
for p in fio s3fs rclone curl; do command -v $p >/dev/null || need="$need $p"; done
if [ -n "$need" ]; then
	say "installing$need"
	apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends $need >/dev/null
fi
START=$(date +%s)
say "bench in $T: ${BIG} MiB files, $FILES small files ($S3_FILES on S3), $ROUNDS rounds"

# ---------------------------------------------------------------------------------------------
# Systems

NATIVE=$T/native PLAIN=$T/plain SRC=$T/src
mkdir -p "$NATIVE" "$PLAIN" "$SRC"
ARTIFS_OPTS="store=$T/store,state=$T/state"

# passthrough_ll from libfuse3-dev's examples (gzipped in some releases), with its helper header.
ex=/usr/share/doc/libfuse3-dev/examples
for f in passthrough_ll.c passthrough_helpers.h; do
	if [ -f $ex/$f ]; then
		cp $ex/$f "$T/$f"
	elif [ -f $ex/$f.gz ]; then
		zcat $ex/$f.gz >"$T/$f"
	else
		echo "bench: no $f under $ex (apt-get install libfuse3-dev)"
		exit 1
	fi
done
# shellcheck disable=SC2046
cc -O2 -w -o "$T/passthrough_ll" "$T/passthrough_ll.c" $(pkg-config --cflags --libs fuse3)

# PTA_X: extra options of pt-always (",xattr" during scenario 6 only: with xattrs on, every
# `ls -l` entry costs it two GETXATTR round trips that as shipped it answers ENOSYS once).
PTA_X=
pt_up() {
	case $1 in
	pt) fuse_up pt "$T/m-pt" "$T/passthrough_ll" -f -o "source=$PLAIN" "$T/m-pt" ;;
	pt-always) fuse_up pt-always "$T/m-pta" "$T/passthrough_ll" -f -o "source=$PLAIN,cache=always$PTA_X" "$T/m-pta" ;;
	esac
}
SCEN=setup
# Peak RSS (VmHWM) of each artifs daemon when it stops, by scenario (row 9g).
rss_rec() {
	local r
	r=$(hwm "$1")
	[ "$r" -gt 0 ] && rec 9g "$1 in $SCEN" "$r"
	return 0
}
# scenario N TITLE: starts scenario N with fresh artifs daemons, so each daemon's peak RSS
# belongs to one scenario.
scenario() {
	say "$1. $2"
	if [ -n "${PIDOF[artifs]:-}" ]; then artifs_down && artifs_up; fi
	if [ -n "${PIDOF[artifs-s3]:-}" ]; then as3_down && as3_up; fi
	SCEN=$1
}
artifs_up() { fuse_up artifs "$T/m-artifs" "$BIN" mount -f -o "$ARTIFS_OPTS${1:+,$1}" "$T/m-artifs"; }
artifs_down() {
	rss_rec artifs
	fuse_down artifs
}
as3_up() {
	fuse_up artifs-s3 "$T/m-as3" "$BIN" mount -f \
		-o "store=s3://bench/a,state=$T/state-s3,cache=$T/cache-s3,refresh=0" "$T/m-as3"
}
as3_down() {
	rss_rec artifs-s3
	fuse_down artifs-s3
}
s3fs_up() {
	fuse_up s3fs "$T/m-s3fs" s3fs plain "$T/m-s3fs" -f \
		-o "passwd_file=$T/s3passwd,url=$AWS_ENDPOINT_URL,use_path_request_style,endpoint=us-east-1"
}
rclone_up() { fuse_up rclone "$T/m-rclone" rclone mount rgw:plain "$T/m-rclone" --read-only; }

# root SYS: the folder a system's files live in (for artifs: the project folder).
root() {
	case $1 in
	native) echo "$NATIVE" ;; pt) echo "$T/m-pt" ;; pt-always) echo "$T/m-pta" ;;
	artifs) echo "$T/m-artifs/bench" ;; artifs-s3) echo "$T/m-as3/bench" ;;
	s3fs) echo "$T/m-s3fs" ;; rclone) echo "$T/m-rclone" ;;
	esac
}
# ver SYS NAME: the folder holding NAME's committed content (artifs: its newest @vN).
ver() {
	local r
	r=$(root "$1")
	case $1 in
	artifs*) echo "$r/$2/$(readlink "$r/$2/@latest")" ;;
	*) echo "$r/$2" ;;
	esac
}
# cold SYS: a fresh daemon (artifs-s3: with an empty cache) and no page cache.
cold() {
	case $1 in
	pt | pt-always) fuse_down "$1" && pt_up "$1" ;;
	artifs) artifs_down && artifs_up ;;
	artifs-s3) as3_down && rm -rf "$T/cache-s3" && as3_up ;;
	s3fs) fuse_down s3fs && s3fs_up ;;
	rclone) fuse_down rclone && rclone_up ;;
	esac
	drop
}
# commit SYS DIR: artifs: commit the draft synchronously; others: nothing.
commit() { case $1 in artifs*) setfattr -n user.artifs.commit -v bench "$2" ;; esac; }
# readall FILE: sequential read through the page cache (128 KiB reads, like cat).
readall() { cat "$1" >/dev/null; }

# fio_iops FILE: random 4 KiB reads of FILE for FIO_RT each, one job after the other: warm
# QD1 (psync), warm QD16 (io_uring), O_DIRECT QD1 and QD16; prints 4 IOPS ("n/a" for a job
# that failed, e.g. a filesystem refusing O_DIRECT).
fio_iops() {
	fio --filename="$1" --rw=randread --bs=4k --runtime="$FIO_RT" --time_based --invalidate=0 \
		--readonly --output-format=json \
		--name=qd1 --ioengine=psync \
		--name=qd16 --stonewall --ioengine=io_uring --iodepth=16 \
		--name=direct-qd1 --stonewall --ioengine=psync --direct=1 \
		--name=direct-qd16 --stonewall --ioengine=io_uring --iodepth=16 --direct=1 \
		2>>"$LOGS/fio.log" | python3 -c 'import json, sys
try:
    jobs = {j["jobname"]: j for j in json.load(sys.stdin)["jobs"]}
except ValueError:
    jobs = {}
for n in ("qd1", "qd16", "direct-qd1", "direct-qd16"):
    j = jobs.get(n)
    print(int(j["read"]["iops"]) if j and not j["error"] and j["read"]["iops"] > 0 else "n/a")'
}

# fio_cold FILE: random 4 KiB reads of FILE at QD1 (psync) for FIO_RT, from a cold page cache
# (the caller made it cold); prints the IOPS or "n/a".
fio_cold() {
	fio --filename="$1" --rw=randread --bs=4k --runtime="$FIO_RT" --time_based --invalidate=0 \
		--readonly --output-format=json --name=cold-qd1 --ioengine=psync \
		2>>"$LOGS/fio.log" | python3 -c 'import json, sys
try:
    j = json.load(sys.stdin)["jobs"][0]
    print(int(j["read"]["iops"]) if not j["error"] and j["read"]["iops"] > 0 else "n/a")
except (ValueError, IndexError, KeyError):
    print("n/a")'
}

LOCAL="native pt pt-always artifs"
pt_up pt
pt_up pt-always
artifs_up

# The big file every read scenario uses, the same bytes on every system.
head -c $((BIG << 20)) /dev/urandom >"$SRC/big"
cp "$SRC/big" "$NATIVE/big"
cp "$SRC/big" "$PLAIN/big"
mkdir -p "$T/m-artifs/bench/big"
cp "$SRC/big" "$T/m-artifs/bench/big/f"
commit artifs "$T/m-artifs/bench/big"
sync
bigfile() {
	case $1 in
	artifs*) echo "$(root "$1")/big/@v1/f" ;;
	curl) echo "$AWS_ENDPOINT_URL/plain/big" ;;
	*) echo "$(root "$1")/big" ;;
	esac
}

# ---------------------------------------------------------------------------------------------
# S3 systems: Ceph RGW on loopback, artifs on bucket "bench", s3fs and rclone on "plain".

S3=0
if want s3; then
	RGW_DIR=$T/rgw
	mkdir -p "$RGW_DIR"
	port=$("$TESTS_DIR/s3/free-port.py" 40000)
	# RGW's beast frontend without tcp_nodelay answers each small GET on a kept-alive
	# connection ~40 ms late (Nagle against the client's delayed ACK), which every S3
	# client here pays alike; a copy of server.sh with tcp_nodelay=1 avoids that (a no-op
	# once tests/s3/server.sh sets it itself).
	sed 's/^\(rgw frontends = beast endpoint=[^ ]*\)$/\1 tcp_nodelay=1/' \
		"$TESTS_DIR/s3/server.sh" >"$T/server.sh"
	chmod +x "$T/server.sh"
	RGW_SH=$T/server.sh
	if out=$("$RGW_SH" start "$RGW_DIR" "$port" 2>"$LOGS/rgw.log"); then
		eval "$out"
		S3=1
	else
		say "the S3 server did not start (S3 rows skipped): $(tail -n 3 "$LOGS/rgw.log")"
	fi
fi
if [ $S3 = 1 ]; then
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
	unset AWS_CA_BUNDLE
	sc() {
		curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
			-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
	}
	sc -X PUT "$AWS_ENDPOINT_URL/bench" >/dev/null
	sc -X PUT "$AWS_ENDPOINT_URL/plain" >/dev/null
	sc -X PUT -T "$SRC/big" "$AWS_ENDPOINT_URL/plain/big" >/dev/null
	printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/s3passwd"
	chmod 600 "$T/s3passwd"
	export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph \
		RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
		RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
		RCLONE_CONFIG_RGW_ENDPOINT=$AWS_ENDPOINT_URL
	# The small files for s3fs and rclone, uploaded once (parallel, not timed).
	$UTIL write "$SRC/small" "$S3_FILES"
	rclone copy "$SRC/small" rgw:plain/small --transfers 16 2>>"$LOGS/rclone-copy.log"
	as3_up
	SCEN=s3-setup
	row s0 "S3 setup: write + commit into artifs-s3 (1 run)" "MiB/s; files/s" "" ""
	mkdir -p "$T/m-as3/bench/big" "$T/m-as3/bench/small"
	timed eval 'cp "$SRC/big" "$T/m-as3/bench/big/f"; commit artifs-s3 "$T/m-as3/bench/big"'
	rec s0 "artifs-s3 MiB/s" "$(div $BIG "$EL")"
	timed eval 'cp "$SRC"/small/* "$T/m-as3/bench/small/"; commit artifs-s3 "$T/m-as3/bench/small"'
	rec s0 "artifs-s3 files/s" "$(div "$S3_FILES" "$EL" %.0f)"
	s3fs_up
	rclone_up
fi
S3SYS="artifs-s3 s3fs rclone"

# ---------------------------------------------------------------------------------------------
# 1. write + commit of a BIG MiB file, incompressible and compressible, to the version being
# visible (native and passthrough: cp + fsync of the file). Fresh bytes each round, so the
# store never deduplicates them against an earlier round.
if want 1; then
	scenario 1 "write + commit"
	row 1a "write + commit, $BIG MiB incompressible" "MiB/s" pt "artifs>=0.8*pt"
	row 1b "write + commit, $BIG MiB compressible (~2:1)" "MiB/s" pt ""
	row 9a "daemon peak RSS during 1 (write + commit)" "MiB" "" "artifs<=100"
	for r in $(seq "$ROUNDS"); do
		head -c $((BIG << 20)) /dev/urandom >"$SRC/inc"
		$UTIL gen-cmp "$SRC/cmp" "$BIG"
		sync
		artifs_down && artifs_up
		for kind in inc cmp; do
			for s in $LOCAL; do
				d=$(root $s)
				case $s in
				artifs)
					mkdir -p "$d/w-$kind-$r"
					timed eval 'cp "$SRC/$kind" "$d/w-$kind-$r/f"; commit artifs "$d/w-$kind-$r"'
					[ -f "$d/w-$kind-$r/@v1/f" ] || say "no @v1 in $d/w-$kind-$r"
					;;
				*) timed eval 'cp "$SRC/$kind" "$d/w"; sync "$d/w"' ;;
				esac
				rec "$([ $kind = inc ] && echo 1a || echo 1b)" $s "$(div $BIG "$EL")"
				rm -f "$d/w"
			done
		done
		rec 9a artifs "$(hwm artifs)"
		rm -f "$SRC/inc" "$SRC/cmp"
	done
fi

# ---------------------------------------------------------------------------------------------
# 2. sequential read of the big file, cold (fresh daemon, caches dropped) then warm.
# seq_reads SYS ROW...: the big file read cold (into the first ROW), then warm once per
# further ROW, in MiB/s.
seq_reads() {
	local s=$1 f row
	shift
	cold "$s"
	f=$(bigfile "$s")
	for row in "$@"; do
		timed readall "$f"
		rec "$row" "$s" "$(div $BIG "$EL")"
	done
}

if want 2; then
	scenario 2 "sequential read"
	row 2a "cold sequential read, $BIG MiB" "MiB/s" pt "artifs>=1.0*pt"
	row 2b "warm sequential read (2nd read), $BIG MiB" "MiB/s" native "artifs>=0.9*native"
	row 2e "warm sequential read (3rd read: pages already on the active LRU)" "MiB/s" native "artifs>=0.9*native"
	row 9b "daemon peak RSS during 2 (cold + warm read, local)" "MiB" "" "artifs<=100"
	for r in $(seq "$ROUNDS"); do
		for s in $LOCAL; do
			seq_reads $s 2a 2b 2e
			[ $s = artifs ] && rec 9b artifs "$(hwm artifs)"
		done
	done
	cmp "$SRC/big" "$(bigfile artifs)" || say "MISMATCH: artifs big/@v1/f differs from the source"
fi
if want 2 && [ $S3 = 1 ]; then
	row 2c "S3 cold sequential read, $BIG MiB" "MiB/s" s3fs "artifs-s3>=1.5*s3fs;artifs-s3>=1.0*curl"
	row 2d "S3 warm sequential read, $BIG MiB" "MiB/s" s3fs ""
	row 9c "daemon peak RSS during 2 (cold + warm read, S3)" "MiB" "" "artifs-s3<=100"
	for r in $(seq "$ROUNDS"); do
		for s in $S3SYS curl; do
			if [ $s = curl ]; then
				timed sc -o /dev/null "$(bigfile curl)"
				rec 2c curl "$(div $BIG "$EL")"
				continue
			fi
			seq_reads $s 2c 2d
			[ $s = artifs-s3 ] && rec 9c artifs-s3 "$(hwm artifs-s3)"
		done
	done
	cmp "$SRC/big" "$(bigfile artifs-s3)" || say "MISMATCH: artifs-s3 big/@v1/f differs from the source"
fi

# ---------------------------------------------------------------------------------------------
# 3. random 4 KiB reads of the big file (fio, $FIO_RT each): warm at queue depth 1 (psync)
# and 16 (io_uring), and O_DIRECT at both depths. Warm: the file is read twice before, so its
# pages are on the active LRU list (the first pass over pages a FUSE read just brought in
# moves each 4 KiB folio there, which costs a FUSE file 2-3x in that pass; ext4's large
# folios hardly notice).
fio_rows() { # PREFIX SUFFIX BASELINE TARGET-SYS
	row "$1a" "random 4 KiB read, warm, QD1$2" IOPS "$3" "${4:+$4>=0.9*native}"
	row "$1b" "random 4 KiB read, warm, QD16$2" IOPS "$3" "${4:+$4>=0.9*native}"
	row "$1c" "random 4 KiB read, O_DIRECT, QD1$2" IOPS "$3" "${4:+$4>=0.5*native}"
	row "$1d" "random 4 KiB read, O_DIRECT, QD16$2" IOPS "$3" "${4:+$4>=0.5*native}"
	row "$1e" "random 4 KiB read, cold page cache, QD1$2" IOPS "$3" "${4:+$4>=0.5*native}"
}
fio_round() { # PREFIX SYSTEMS...
	local p=$1 s f a b c d
	shift
	for s in "$@"; do
		f=$(bigfile $s)
		cold $s
		rec "${p}e" $s "$(fio_cold "$f")"
		readall "$f"
		readall "$f"
		{ read -r a; read -r b; read -r c; read -r d; } < <(fio_iops "$f")
		rec "${p}a" $s "$a"
		rec "${p}b" $s "$b"
		rec "${p}c" $s "$c"
		rec "${p}d" $s "$d"
	done
}
if want 3; then
	scenario 3 "random reads"
	fio_rows 3 "" native artifs
	[ $S3 = 1 ] && fio_rows 3s ", S3" s3fs ""
	for r in $(seq "$FIO_ROUNDS"); do
		# shellcheck disable=SC2086
		fio_round 3 $LOCAL
		# shellcheck disable=SC2086
		[ $S3 = 1 ] && fio_round 3s $S3SYS
	done
fi

# ---------------------------------------------------------------------------------------------
# 4. FILES files of 4 KiB written into a HEAD and committed as one version (others: written,
# then sync), then listdir + stat of all, cold and warm, and open+read+close of all, cold and
# warm, from the version (files/s).
if want 4; then
	scenario 4 "small files"
	row 4a "$FILES files of 4 KiB: write + commit (+ sync)" files/s pt-always "artifs>=1*pt-always"
	row 4b "$FILES files: stat, cold" files/s pt-always ""
	row 4c "$FILES files: stat, warm" files/s pt-always ""
	row 4d "$FILES files: read, cold" files/s pt-always "artifs>=1*pt-always"
	row 4e "$FILES files: read, warm" files/s pt-always "artifs>=3*pt-always"
	for r in $(seq "$ROUNDS"); do
		for s in $LOCAL; do
			d=$(root $s)/small-$r
			timed eval '$UTIL write "$d" "$FILES"; commit $s "$d"; sync'
			rec 4a $s "$(div "$FILES" "$EL" %.0f)"
			v=$(ver $s small-$r)
			cold $s
			rec 4b $s "$($UTIL stat "$v")"
			rec 4c $s "$($UTIL stat "$v")"
			cold $s
			rec 4d $s "$($UTIL read "$v")"
			rec 4e $s "$($UTIL read "$v")"
		done
	done
fi
if want 4 && [ $S3 = 1 ]; then
	row 4f "S3, $S3_FILES files: stat, cold" files/s s3fs ""
	row 4g "S3, $S3_FILES files: stat, warm" files/s s3fs ""
	row 4h "S3, $S3_FILES files: read, cold" files/s s3fs ""
	row 4i "S3, $S3_FILES files: read, warm" files/s s3fs ""
	for r in $(seq "$ROUNDS"); do
		for s in $S3SYS; do
			v=$(ver $s small)
			cold $s
			rec 4f $s "$($UTIL stat "$v")"
			rec 4g $s "$($UTIL stat "$v")"
			cold $s
			rec 4h $s "$($UTIL read "$v")"
			rec 4i $s "$($UTIL read "$v")"
		done
	done
fi

# ---------------------------------------------------------------------------------------------
# 5. ls -l of a folder of FILES entries (artifs: a version folder), cold and warm (ms).
if want 5; then
	scenario 5 "ls -l"
	row 5a "ls -l of $FILES entries, cold" ms native ""
	row 5b "ls -l of $FILES entries, warm" ms native "artifs<=1.5*native;artifs<=1*pt-always"
	for s in $LOCAL; do
		[ -d "$(root $s)/small-1" ] || $UTIL write "$(root $s)/small-1" "$FILES"
		commit $s "$(root $s)/small-1"
	done
	for r in $(seq "$ROUNDS"); do
		for s in $LOCAL; do
			v=$(ver $s small-1)
			cold $s
			timed eval 'ls -l "$v" >/dev/null'
			rec 5a $s "$(div "$EL" 0.001)"
			timed eval 'ls -l "$v" >/dev/null'
			rec 5b $s "$(div "$EL" 0.001)"
		done
	done
fi

# ---------------------------------------------------------------------------------------------
# 6. setxattr (artifs: on HEAD files) and getxattr (artifs: on the committed version's files)
# of user.bench on XFILES files. pt-always runs with -o xattr for this scenario (as shipped
# passthrough_ll has xattrs off) and is the rows' baseline.
if want 6; then
	scenario 6 "xattrs"
	fuse_down pt-always && PTA_X=,xattr && pt_up pt-always
	row 6a "setxattr on $XFILES files" ops/s pt-always "artifs>=1*pt-always"
	row 6b "getxattr on $XFILES files" ops/s pt-always "artifs>=1*pt-always"
	for r in $(seq "$ROUNDS"); do
		for s in native pt-always artifs; do
			d=$(root $s)/x-$r
			$UTIL write "$d" "$XFILES"
			rec 6a $s "$($UTIL setx "$d")"
			commit $s "$d"
			rec 6b $s "$($UTIL getx "$(ver $s x-$r)")"
		done
	done
	fuse_down pt-always && PTA_X= && pt_up pt-always
fi

# ---------------------------------------------------------------------------------------------
# 7. version churn: one small file rewritten and closed, polled until its @vN appears
# (commit_delay=0, refresh=0), and the same committed with setxattr user.artifs.commit.
if want 7; then
	scenario 7 "version churn"
	row 7a "churn: commits/s, commit_delay=0, polled for @vN ($CHURN commits)" commits/s "" ""
	row 7b "churn: commits/s, explicit setxattr commit ($CHURN commits)" commits/s "" ""
	mkdir -p "$T/m-artifs/bench/churn"
	for r in $(seq "$ROUNDS"); do
		artifs_down && artifs_up commit_delay=0,refresh=0
		rec 7a artifs "$($UTIL churn "$T/m-artifs/bench/churn" "$CHURN")"
		artifs_down && artifs_up
		rec 7b artifs "$($UTIL churn-explicit "$T/m-artifs/bench/churn" "$CHURN")"
	done
fi

# ---------------------------------------------------------------------------------------------
# 8. dedup: store bytes and chunks added by a version that overwrites 1% of a BIG MiB file in
# scattered 4 KiB blocks, by one that inserts 10 MiB near its middle, by one that appends 1%
# and by one that rewrites 16 MiB in place in its middle (daemon counters), each against the
# version before; then the index's bytes (the tables that grow with chunks) per chunk.
if want 8; then
	scenario 8 "dedup"
	row 8a "dedup: 1% scattered 4 KiB edits of $BIG MiB, store bytes added" "% of file" "" "artifs<=20"
	row 8b "dedup: 1% scattered 4 KiB edits, chunks added" chunks "" ""
	row 8c "dedup: 10 MiB inserted in the middle, chunks added" chunks "" ""
	row 8d "dedup: 10 MiB inserted in the middle, store bytes added" MiB "" "artifs<=10.5"
	row 8e "dedup: 1% appended, store bytes added" "% of file" "" "artifs<=1.2"
	row 8f "dedup: 16 MiB rewritten in place, store bytes added" MiB "" "artifs<=16.5"
	row 8g "index bytes per chunk stored, 5 versions (chunk lists, runs, chunk_ok, chunk_at, packs, pack_no)" bytes "" "artifs<=128"
	a=$T/m-artifs/bench/dedup
	mkdir -p "$a"
	head -c $((BIG << 20)) /dev/urandom >"$SRC/dd"
	cp "$SRC/dd" "$a/f"
	commit artifs "$a"
	read -r b0 c0 < <($UTIL stats "$T/m-artifs")
	n=$($UTIL edits "$a/f" 1 1)
	commit artifs "$a"
	read -r b1 c1 < <($UTIL stats "$T/m-artifs")
	say "  $n edits of 4 KiB"
	rec 8a artifs "$(div $(((b1 - b0) * 100)) $((BIG << 20)) %.2f)"
	rec 8b artifs $((c1 - c0))
	$UTIL insert "$a/@v1/f" "$a/f" 10 2
	commit artifs "$a"
	read -r b2 c2 < <($UTIL stats "$T/m-artifs")
	rec 8c artifs $((c2 - c1))
	rec 8d artifs "$(div $((b2 - b1)) $((1 << 20)))"
	$UTIL append "$a/f" 1 3
	commit artifs "$a"
	read -r b3 _ < <($UTIL stats "$T/m-artifs")
	rec 8e artifs "$(div $(((b3 - b2) * 100)) $((BIG << 20)) %.2f)"
	$UTIL rewrite "$a/f" 16 4
	commit artifs "$a"
	read -r b4 _ < <($UTIL stats "$T/m-artifs")
	rec 8f artifs "$(div $((b4 - b3)) $((1 << 20)))"
	read -r ib ic < <($UTIL index "$T/m-artifs")
	rec 8g artifs "$(div "$ib" "$ic" %.0f)"
	rm -f "$SRC/dd"
fi

# ---------------------------------------------------------------------------------------------
# 9. mount time with VERSIONS versions in the index (tests/gen-versions.py, artifs rebuild):
# from starting the daemon to `mountpoint -q` and a first `ls` of the root, cold (caches
# dropped) and warm. Peak RSS rows 9a-9c come from scenarios 1 and 2.
if want 9 || want 10; then
	scenario 9 "$VERSIONS versions: generating and rebuilding the index"
	python3 "$TESTS_DIR/gen-versions.py" "$T/gen" "$VERSIONS" 100 >/dev/null
	timed "$BIN" rebuild -o "store=$T/gen,state=$T/genstate" 2>>"$LOGS/rebuild.log"
	row 9d "artifs rebuild of $VERSIONS versions (1 run)" s "" ""
	rec 9d artifs "$(div "$EL" 1 %.2f)"
fi
# mount_ms: mounts the generated store; MS: ms from starting the daemon to the first ls.
mount_ms() {
	local t0 t1
	t0=$(now)
	"$BIN" mount -f -o "store=$T/gen,state=$T/genstate" "$T/m-gen" >>"$LOGS/gen.log" 2>&1 &
	PIDOF[gen]=$!
	MNTOF[gen]=$T/m-gen
	until mountpoint -q "$T/m-gen"; do kill -0 "${PIDOF[gen]}"; done
	ls "$T/m-gen" >/dev/null
	t1=$(now)
	MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
}
if want 9; then
	row 9e "mount with $VERSIONS versions, cold (to mountpoint + first ls)" ms "" "artifs<=200"
	row 9f "mount with $VERSIONS versions, warm" ms "" "artifs<=200"
	mkdir -p "$T/m-gen"
	for r in $(seq "$ROUNDS"); do
		drop
		mount_ms
		rec 9e artifs "$MS"
		fuse_down gen
		mount_ms
		rec 9f artifs "$MS"
		fuse_down gen
	done
fi
# 9h, 9i: one `artifs gc` run over the generated store (docs/gc.md: it lists versions/ and
# reads every kept version's manifest; nothing is removed there, so nothing is deleted).
if want 9; then
	row 9h "artifs gc over $VERSIONS versions (1 run)" s "" ""
	row 9i "artifs gc peak RSS over $VERSIONS versions" MiB "" ""
	timed python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL)
open(sys.argv[1], "w").write("%d %d\n" % (r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))' \
		"$T/gc.rss" "$BIN" gc -o "store=$T/gen" 2>>"$LOGS/gc.log"
	read -r gcrc gcrss <"$T/gc.rss"
	[ "$gcrc" = 0 ] || say "artifs gc exited $gcrc (see $LOGS/gc.log)"
	rec 9h artifs "$(div "$EL" 1 %.2f)"
	rec 9i artifs "$(div "$gcrss" 1024 %.1f)"
fi

# ---------------------------------------------------------------------------------------------
# 10. lineage (was tests/bench/lineage.sh): open+read+close of the FILES files of a version,
# warm, with capture on and off; `artifs find` latency over VERSIONS indexed versions.
if want 10; then
	scenario 10 "lineage"
	row 10a "$FILES files, warm read, lineage capture on vs off" files/s "artifs capture=0" ""
	[ -d "$T/m-artifs/bench/small-1" ] || {
		$UTIL write "$T/m-artifs/bench/small-1" "$FILES"
		commit artifs "$T/m-artifs/bench/small-1"
	}
	v=$(ver artifs small-1)
	for r in $(seq "$ROUNDS"); do
		for c in 1 0; do
			artifs_down && artifs_up capture=$c
			$UTIL read "$v" >/dev/null
			rec 10a "artifs capture=$c" "$($UTIL read "$v")"
		done
	done
	artifs_down && artifs_up
	row 10b "artifs find over $VERSIONS versions" ms "" ""
	for r in $(seq "$ROUNDS"); do
		for q in "--label stage=prod" "--metric acc>0.99" "--input artifs://gen/a0@v1" \
			"--label stage=prod --metric acc>0.99 --sort metric:acc --limit 5"; do
			# shellcheck disable=SC2086
			timed eval '"$BIN" find --state "$T/genstate" $q >/dev/null'
			rec 10b "find $q" "$(div "$EL" 0.001)"
		done
	done
fi

# ---------------------------------------------------------------------------------------------
# 12. a tree in and out of artifs with its own commands against cp on the same mount (rows
# 12a-12d, issue 13): `artifs import DIR` against `cp -a DIR` + a synchronous commit, into a
# new artifact each; then, cold (fresh daemon, no page cache), `artifs get` of that version
# against `cp -a` of it. Two trees: TREE files of 4 MiB (incompressible) in 8 folders, and
# FILES files of 4 KiB. Fresh bytes for every copy in, so neither deduplicates against the
# other; cp and import take turns going first.
# tree DIR N: N files of 4 MiB from /dev/urandom in 8 folders under DIR.
tree() {
	local i
	for i in $(seq 0 7); do mkdir -p "$1/d$i"; done
	for i in $(seq "$2"); do head -c $((4 << 20)) /dev/urandom >"$1/d$((i % 8))/f$i"; done
}
# rec12 BIGROW SMALLROW SYS KIND: $EL as MiB/s of the big tree or files/s of the small one.
rec12() {
	if [ "$4" = big ]; then rec "$1" "$3" "$(div $((TREE * 4)) "$EL")"; else rec "$2" "$3" "$(div "$FILES" "$EL" %.0f)"; fi
}
if want 12; then
	scenario 12 "import and get"
	row 12a "import a tree of $TREE files of 4 MiB into a new version" MiB/s cp "import>=1*cp"
	row 12b "import $FILES files of 4 KiB into a new version" files/s cp "import>=1*cp"
	row 12c "get the $TREE-file tree out of a version, cold" MiB/s cp "get>=1*cp"
	row 12d "get $FILES files of 4 KiB out of a version, cold" files/s cp "get>=1*cp"
	d=$(root artifs)
	for r in $(seq "$ROUNDS"); do
		order="cp import"
		[ $((r % 2)) = 0 ] && order="import cp"
		for how in $order; do
			for kind in big small; do
				rm -rf "$SRC/t"
				if [ $kind = big ]; then tree "$SRC/t" "$TREE"; else $UTIL write "$SRC/t" "$FILES"; fi
				sync
				a=$d/t-$kind-$how-$r
				if [ $how = cp ]; then
					mkdir -p "$a"
					timed eval 'cp -a "$SRC/t/." "$a/"; commit artifs "$a"'
				else
					timed "$BIN" import "$SRC/t" "$a" >/dev/null
				fi
				[ -d "$a/@v1" ] || say "no @v1 in $a"
				rec12 12a 12b $how $kind
			done
		done
		for how in $order; do
			for kind in big small; do
				a=$d/t-$kind-import-$r/@v1
				rm -rf "$T/out"
				cold artifs
				if [ $how = cp ]; then
					timed cp -a "$a" "$T/out"
				else
					timed "$BIN" get "$a" "$T/out"
				fi
				if [ $how = cp ]; then rec12 12c 12d cp $kind; else rec12 12c 12d get $kind; fi
			done
		done
		rm -rf "$T/out" "$SRC/t"
	done
fi

# ---------------------------------------------------------------------------------------------
# 11. a commit behind a slow store: the fault proxy (tests/s3/fault-proxy.py) in front of the
# RGW delays every PUT by 5 s. While artifact p/a's commit uploads (artifs commit), a file is
# made in p/b, a HEAD file of p/a that the commit does not change is read, and another HEAD
# file of p/a is rewritten; ms each (before the fs/ redesign each waited for the upload).
if want 11 && [ $S3 = 1 ]; then
	scenario 11 "commit behind a slow store"
	row 11a "create+write+close in another artifact during a commit whose PUTs take 5 s" ms "" "artifs-s3<=50"
	row 11b "read of an unchanged HEAD file of the artifact being committed" ms "" "artifs-s3<=50"
	row 11c "rewrite of a HEAD file of the artifact being committed" ms "" "artifs-s3<=50"
	pp=$("$TESTS_DIR/s3/free-port.py" 41000)
	python3 "$TESTS_DIR/s3/fault-proxy.py" --port "$pp" --upstream "$AWS_ENDPOINT_URL" \
		--log "$LOGS/proxy.log" 2>>"$LOGS/proxy.err" &
	proxy=$!
	ctl=http://127.0.0.1:$((pp + 1))
	for i in $(seq 200); do curl -sf -o /dev/null "$ctl/health" && break; sleep 0.05; done
	# put_matched: how many PUTs the delay rule has matched so far
	put_matched() { curl -sf "$ctl/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["rules"][0]["matched"])'; }
	fuse_up artifs-slow "$T/m-slow" "$BIN" mount -f -o \
		"store=s3://bench/slow,state=$T/state-slow,cache=$T/cache-slow,refresh=0,commit_delay=600000,endpoint=http://127.0.0.1:$pp" \
		"$T/m-slow"
	sa=$T/m-slow/p/a sb=$T/m-slow/p/b
	mkdir -p "$sa" "$sb"
	echo keep >"$sa/keep"
	echo f >"$sa/f"
	echo base >"$sb/base"
	"$BIN" commit "$sa" >/dev/null && "$BIN" commit "$sb" >/dev/null
	curl -sf -o /dev/null -X PUT --data-binary '{"rules": [{"method": "PUT", "action": "delay", "delay_ms": 5000}]}' "$ctl/rules"
	# during ROW CMD: starts a commit of p/a (a new 1 MiB file), waits until its first PUT
	# is being delayed, times CMD, records it in ms as ROW, and waits for the commit.
	during() {
		local row=$1 m0 job i
		shift
		head -c 1048576 /dev/urandom >"$sa/new-$row-$r"
		m0=$(put_matched)
		"$BIN" commit "$sa" >/dev/null &
		job=$!
		for i in $(seq 200); do [ "$(put_matched)" -gt "$m0" ] && break; sleep 0.05; done
		timed "$@"
		rec "$row" artifs-s3 "$(div "$EL" 0.001)"
		wait "$job" || say "the slow commit of $row, round $r, failed"
	}
	for r in $(seq "$ROUNDS"); do
		during 11a sh -c "echo x >'$sb/n-$r'"
		during 11b sh -c "cat '$sa/keep' >/dev/null"
		during 11c sh -c "echo $r >'$sa/f'"
	done
	curl -sf -o /dev/null -X PUT --data-binary '{"rules": []}' "$ctl/rules"
	rss_rec artifs-slow
	fuse_down artifs-slow
	kill "$proxy" 2>/dev/null || true
	wait "$proxy" 2>/dev/null || true # its status is the signal's
fi

SCEN=end
row 9g "daemon peak RSS (VmHWM) at each daemon stop, by scenario" MiB "" "*<=100"
artifs_down
[ $S3 = 1 ] && as3_down

echo
echo "artifs bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), ${ROUNDS} rounds, $(($(date +%s) - START)) s"
echo "median, min-max over rounds, ratio of medians to the row's baseline; higher is better except ms, MiB, % and chunks"
table
