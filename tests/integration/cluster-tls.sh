#!/usr/bin/env bash
# The cluster store over TLS with client certificates: etcd requires a client
# certificate signed by the test CA; berthd with cluster.tls registers, one
# without a client certificate cannot (and keeps serving locally).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster-lib.sh"
command -v openssl >/dev/null || skip "openssl is missing"

N=node-$IT_ID
P=/berth
PKI=$IT_TMP/pki
mkdir -p "$PKI"
(
        cd "$PKI" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=berth-test-ca
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext.cnf
        for n in server client; do
                openssl req -newkey rsa:2048 -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$n"
                openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$n.pem" -days 1 -extfile ext.cnf
        done
) >/dev/null 2>&1 || skip "openssl could not make the test PKI"

cl_netns a
nsenter --net="/run/netns/${D_NS[a]}" -- etcd --name t1 --data-dir "$IT_TMP/etcd-t1" \
        --listen-client-urls https://127.0.0.1:23795 --advertise-client-urls https://127.0.0.1:23795 \
        --listen-peer-urls http://127.0.0.1:23895 --initial-advertise-peer-urls http://127.0.0.1:23895 \
        --initial-cluster t1=http://127.0.0.1:23895 \
        --cert-file "$PKI/server.pem" --key-file "$PKI/server.key" \
        --client-cert-auth --trusted-ca-file "$PKI/ca.pem" >"$IT_TMP/etcd-t1.log" 2>&1 &
tctl() {
        ETCDCTL_API=3 in_ns timeout 20 etcdctl --endpoints=https://127.0.0.1:23795 --cacert "$PKI/ca.pem" \
                --cert "$PKI/client.pem" --key "$PKI/client.key" "$@"
}
check "etcd with client-certificate auth is up" wait_for 20 tctl endpoint health

cat >"$IT_TMP/berthd.yaml" <<EOT
cluster:
  endpoints: https://127.0.0.1:23795
  node: $N
  leaseTTL: 3s
  interval: 1s
  tls:
    ca: $PKI/ca.pem
    cert: $PKI/client.pem
    key: $PKI/client.key
EOT
daemon_start a -c "$IT_TMP/berthd.yaml"
check "registration over TLS with a client certificate" wait_for 10 bash -c \
        "ETCDCTL_API=3 nsenter --net=/run/netns/${D_NS[a]} -- etcdctl --endpoints=https://127.0.0.1:23795 --cacert $PKI/ca.pem --cert $PKI/client.pem --key $PKI/client.key get --keys-only $P/nodes/$N | grep -q ."
check "readyz: connected" wait_for 5 bash -c \
        "curl -s --unix-socket '$(sock)' http://localhost/readyz | grep -qx 'cluster: connected'"
daemon_stop a TERM

# Without the client certificate etcd refuses the handshake.
cat >"$IT_TMP/berthd-nocert.yaml" <<EOT
cluster:
  endpoints: https://127.0.0.1:23795
  node: $N-nocert
  leaseTTL: 3s
  interval: 1s
  tls:
    ca: $PKI/ca.pem
EOT
daemon_start a -c "$IT_TMP/berthd-nocert.yaml"
sleep 3
check_match "without a client certificate: not connected" 'cluster: (disconnected|connecting)' \
        "$(curl -s --unix-socket "$(sock)" http://localhost/readyz)"
check_eq "and not registered" "" "$(tctl get --keys-only "$P/nodes/$N-nocert")"
check_match "request failures counted" '^[1-9]' "$(metric berth_cluster_request_failures_total)"
finish
