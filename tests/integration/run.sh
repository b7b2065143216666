#!/usr/bin/env bash
# Runs every tests/integration/NNN-*.sh (or those named) and prints one summary line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
pass=0 failn=0 skip=0 failed=""
tests=("$@")
# With ARTIFS_TEST_STORE=s3 the suite runs again on the S3 test server, all but the S3 tests
# (300-399), which start their own server and run in the local pass only.
if [ ${#tests[@]} -eq 0 ]; then
	for t in "$here"/[0-9][0-9][0-9]-*.sh; do
		n=$(basename "$t"); n=${n%%-*}
		[ "${ARTIFS_TEST_STORE:-local}" = s3 ] && [ "$n" -ge 300 ] && [ "$n" -lt 400 ] && continue
		tests+=("$t")
	done
fi
for t in "${tests[@]}"; do
	name=$(basename "$t")
	start=$(date +%s)
	out=$(bash "$t" 2>&1)
	rc=$?
	secs=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "ok   $name (${secs}s)"
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1)); echo "skip $name"
	else
		failn=$((failn + 1)); failed="$failed $name"; echo "FAIL $name (exit $rc, ${secs}s)"
		echo "$out" | sed 's/^/    /'
	fi
done
echo "integration (${ARTIFS_TEST_STORE:-local} store): $pass passed, $failn failed, $skip skipped"
[ $failn -eq 0 ]
