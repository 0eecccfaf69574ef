"""Parses an OpenMetrics exposition from stdin with the reference Python parser
(prometheus_client.openmetrics.parser), which refuses anything the specification does not allow
(a missing # EOF, a counter sample without _total, an info value other than 1, a bad # UNIT).
Prints one line per family (name, type, unit, samples) so the caller can check what it saw.
Exit code 3 when prometheus_client is not installed, so the caller can skip."""
import sys

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client is not installed", file=sys.stderr)
    sys.exit(3)

text = sys.stdin.read()
for family in text_string_to_metric_families(text):
    print(f"{family.name} {family.type} {family.unit or '-'} {len(family.samples)}")
