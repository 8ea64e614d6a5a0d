#!/usr/bin/env bash
# Starts Prometheus (Debian package `prometheus`) scraping a running switch, with the shipped
# alert rules, for trying the metrics and alerts locally:
#   scripts/prometheus-local.sh [switch_http_address] [prometheus_port]
#   default: 127.0.0.1:8080 (the switch's [http] listen) and 9090.
# Open http://127.0.0.1:9090/alerts and /graph; stop with Ctrl-C (the data folder is removed).
# Import config/ops/grafana-dashboard.json into Grafana with this Prometheus as data source.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-127.0.0.1:8080}
PORT=${2:-9090}
command -v prometheus >/dev/null || { echo "needs Prometheus: apt-get install prometheus" >&2; exit 1; }
WORK=$(mktemp -d /tmp/hotline-prometheus.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 15s
  evaluation_interval: 15s
rule_files:
  - $ROOT/config/ops/hotline-alerts.yml
scrape_configs:
  - job_name: hotline
    static_configs:
      - targets: ["$TARGET"]
EOF
promtool check config "$WORK/prometheus.yml"
echo "Prometheus on http://127.0.0.1:$PORT scraping http://$TARGET/metrics" >&2
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PORT"
