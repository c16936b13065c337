#!/bin/sh
# Release a shipment to the carrier only when tracecheck preflight clears it.
#
# usage: sh dispatch.sh DATABASE SHIPPING-BILL SCANNED-EPCS
#
# The preflight is kept as a Markdown file next to the shipping bill's name
# (preflight-<bill>.md) for the shipment's record. The exit status is the
# preflight's: 0 clear (released), 1 blocked (held), 2 not checked (bad input);
# anything else (tracecheck missing, say) holds the shipment too.
set -u

if [ $# -ne 3 ]; then
    echo "usage: sh dispatch.sh DATABASE SHIPPING-BILL SCANNED-EPCS" >&2
    exit 2
fi
db=$1
bill=$2
scanned=$3
record="preflight-$(basename "$bill" .csv).md"
rm -f "$record"  # never leave an earlier verdict behind

tracecheck preflight --db "$db" "$bill" --epcs "$scanned" --format md --output "$record"
status=$?

case $status in
    0) echo "RELEASED: $bill is clear to ship; the check is kept in $record" ;;
    1) echo "HELD: $bill is blocked; the reasons and what to do are in $record" ;;
    2) echo "NOT CHECKED: fix the file named above and run again" ;;
    *) echo "NOT CHECKED: tracecheck preflight did not run (exit $status)" ;;
esac
exit $status
