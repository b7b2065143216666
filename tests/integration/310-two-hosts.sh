# Two hosts on one local store directory (as on a shared filesystem).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/two-hosts.inc"
two_hosts
