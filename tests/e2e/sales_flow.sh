# Sourced by the daemon's end-to-end scripts (daemon_crash.sh, daemon_crash_serve.sh,
# daemon_threads.sh): the two-recipe `sales` flow they schedule, kill and serve.
#
#   sales_flow [SCHEDULE_LINES [MORE_RECIPES]]
#
# writes data/sales.csv (two regions) and flows/sales.yaml in the current directory: collect
# of the connection `sales_src` into sales_raw, then the SQL totals per region. SCHEDULE_LINES
# (a `schedule:` block) go between the flow's name and its recipes, MORE_RECIPES (YAML list
# items) after the two.
sales_flow() {
  mkdir -p data flows
  printf 'region,amount\nnord,10\nsud,20\n' > data/sales.csv
  {
    echo "flow: sales"
    [ -z "${1:-}" ] || printf '%s\n' "$1"
    cat <<'YAML'
recipes:
  - {name: collect_sales, kind: collect, outputs: [sales_raw], params: {connection: sales_src}}
  - name: totals
    kind: sql
    inputs: [sales_raw]
    outputs: [totals]
    params: {query: "select region, sum(amount) as total from sales_raw group by region"}
YAML
    [ -z "${2:-}" ] || printf '%s\n' "$2"
  } > flows/sales.yaml
}

#   sales_datalab_config NAME
#
# writes alambic.yaml for a workspace NAME with only the datalab environment, its
# connection `sales_src` reading data/sales.csv.
sales_datalab_config() {
  cat > alambic.yaml <<YAML
name: $1
default_environment: datalab
connections:
  sales_src: {type: file, path: data/sales.csv}
environments:
  datalab: {}
YAML
}

#   sales_api_access NAME
#
# in the workspace of the current directory (after `secret init`): makes the user `ops`
# (engineer, password NAME-password-1234; its output in $WORK/user.log) and an API token
# NAME for it, in $token; picks a free loopback port, in $port; defines `api METHOD PATH`,
# which prints the body of that request to the server on $port with the token. Needs
# $ALAMBIC, $WORK and a function `fail MESSAGE`.
sales_api_access() {
  printf '%s-password-1234\n' "$1" | "$ALAMBIC" user add ops --role engineer > "$WORK/user.log" 2>&1 ||
    fail "user add"
  token=$("$ALAMBIC" token add --name "$1" --role engineer --user ops 2> /dev/null |
    grep -oE 'alb_[0-9a-f]+' | head -1)
  [ -n "$token" ] || fail "no API token"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}
api() {  # METHOD PATH: prints the body
  curl -sS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{}' "http://127.0.0.1:$port$2"
}
