# shellcheck shell=bash
# Helpers for the cluster store tests (docs/CLUSTER.md): a real etcd from
# Debian's etcd-server, started inside the test's own network namespace on
# loopback ports, and etcdctl to read and write it. Source after lib.sh.
# Every etcd's data dir lives under $IT_TMP, so lib.sh's cleanup kills it
# (its command line names the temp dir) and removes its data.

command -v etcd >/dev/null || skip "etcd is missing (apt-get install etcd-server)"
command -v etcdctl >/dev/null || skip "etcdctl is missing (apt-get install etcd-client)"

declare -A E_PID E_CPORT E_PPORT
E_MEMBERS=()

# cl_netns [NAME]: creates daemon NAME's netns, root and run dir the way
# daemon_start does on its first call, so etcd can start there first.
# shellcheck disable=SC2004,SC2034 # D_* are lib.sh's associative arrays
cl_netns() {
        local n=${1:-a}
        [[ -n ${D_NS[$n]:-} ]] && return 0
        D_NS[$n]=berth-it-$IT_ID-$n
        D_ROOT[$n]=$IT_TMP/root-$n
        D_RUN[$n]=$IT_TMP/run-$n
        D_LOG[$n]=$IT_TMP/berthd-$n.log
        if [[ $n == a ]]; then D_CG[$n]=berth-it-$IT_ID; else D_CG[$n]=berth-it-$IT_ID-$n; fi
        mkdir -p "${D_ROOT[$n]}"
        ip netns add "${D_NS[$n]}" || { not_ok "create netns ${D_NS[$n]}"; finish; }
        ip -n "${D_NS[$n]}" link set lo up
        IT_DAEMONS+=("$n")
}

in_ns() { nsenter --net="/run/netns/${D_NS[a]}" -- "$@"; }

# etcd_cluster N: N members e1..eN on 127.0.0.1:23791.. (clients) and
# 23891.. (peers) in netns a; waits until the cluster answers.
etcd_cluster() {
        local n=$1 i ic=""
        for ((i = 1; i <= n; i++)); do
                E_CPORT[e$i]=$((23790 + i))
                E_PPORT[e$i]=$((23890 + i))
                ic+="${ic:+,}e$i=http://127.0.0.1:${E_PPORT[e$i]}"
                E_MEMBERS+=("e$i")
        done
        E_INITIAL=$ic
        for ((i = 1; i <= n; i++)); do
                etcd_start "e$i"
        done
        wait_for 30 etcdctl_ endpoint health --cluster || { not_ok "etcd cluster of $n came up"; finish; }
        ok "etcd cluster of $n members up"
}

# etcd_start MEMBER: (re)starts one member on its data dir.
etcd_start() {
        local m=$1
        # nsenter execs etcd, so $! is etcd itself (a shell function would add a subshell).
        nsenter --net="/run/netns/${D_NS[a]}" -- etcd --name "$m" --data-dir "$IT_TMP/etcd-$m" \
                --listen-client-urls "http://127.0.0.1:${E_CPORT[$m]}" \
                --advertise-client-urls "http://127.0.0.1:${E_CPORT[$m]}" \
                --listen-peer-urls "http://127.0.0.1:${E_PPORT[$m]}" \
                --initial-advertise-peer-urls "http://127.0.0.1:${E_PPORT[$m]}" \
                --initial-cluster "$E_INITIAL" --initial-cluster-state new \
                --heartbeat-interval 50 --election-timeout 500 \
                >>"$IT_TMP/etcd-$m.log" 2>&1 &
        E_PID[$m]=$!
}

etcd_kill() {
        local m=$1 sig=${2:-KILL}
        [[ -n ${E_PID[$m]:-} ]] || return 0
        kill -s "$sig" "${E_PID[$m]}" 2>/dev/null
        wait "${E_PID[$m]}" 2>/dev/null
        E_PID[$m]=
}

etcd_endpoints() {
        local m out=""
        for m in "${E_MEMBERS[@]}"; do out+="${out:+,}http://127.0.0.1:${E_CPORT[$m]}"; done
        echo "$out"
}

# etcdctl_ ARGS...: etcdctl v3 against every member, inside the netns.
etcdctl_() { ETCDCTL_API=3 in_ns timeout 20 etcdctl --endpoints="$(etcd_endpoints)" --dial-timeout=2s "$@"; }
# kv KEY: the value, or nothing.
kv() { etcdctl_ get --print-value-only "$1" 2>/dev/null; }
kv_absent() { [[ -z $(etcdctl_ get --keys-only "$1" 2>/dev/null) ]]; }
kv_present() { [[ -n $(etcdctl_ get --keys-only "$1" 2>/dev/null) ]]; }
# kv_field KEY JQ EXPECTED: the value parses and the field equals EXPECTED.
# kv_jq KEY EXPR: jq -e EXPR holds for the value.
kv_jq() { kv "$1" | jq -e "$2" >/dev/null 2>&1; }
kv_field() { [[ $(kv "$1" | jq -r "$2" 2>/dev/null) == "$3" ]]; }

# cl_config FILE NODE [extra yaml lines]: a berthd.yaml with a cluster section.
cl_config() {
        local f=$1 node=$2
        shift 2
        {
                echo "cluster:"
                echo "  endpoints:"
                local m
                for m in "${E_MEMBERS[@]}"; do echo "    - http://127.0.0.1:${E_CPORT[$m]}"; done
                echo "  node: $node"
                echo "  leaseTTL: ${CL_TTL:-3s}"
                echo "  interval: ${CL_INTERVAL:-1s}"
                local l
                for l in "$@"; do echo "$l"; done
        } >"$f"
}

# metric NAME: one value from GET /metrics.
metric() { api_json GET /metrics | awk -v n="$1" '$1 == n { print $2 }'; }
