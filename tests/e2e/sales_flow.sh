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
