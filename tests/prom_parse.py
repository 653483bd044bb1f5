#!/usr/bin/python3
"""Parse Prometheus text exposition from stdin with Debian's
python3-prometheus-client (a parser that is not ours) and print one line per
sample: name{label="value",...} value, labels sorted. Exit 1 when it does
not parse."""
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    for family in text_string_to_metric_families(sys.stdin.read()):
        for s in family.samples:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            print("%s{%s} %s %s" % (s.name, labels, repr(float(s.value)), family.type))
except Exception as e:  # the parser's own words, for the test's failure message
    print("unparseable: %s" % e, file=sys.stderr)
    sys.exit(1)
