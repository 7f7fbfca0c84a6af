#!/usr/bin/env bash
# Bad input over raw HTTP: each validation class gets the right status, code
# and field in the one error body shape {code, message, field}.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a

good=$(doc good /bin/true)

# expect DESC STATUS CODE FIELD_REGEX BODY_FILE: POST the file and check the error.
# FIELD_REGEX "null" means field must be null.
expect() {
        local desc=$1 want=$2 code=$3 field=$4 file=$5 st b
        st=$(api POST /v1/workloads -H 'Content-Type: application/json' -H 'Expect:' --data-binary "@$file")
        b=$(body)
        check_eq "$desc: HTTP $want" "$want" "$st"
        check_eq "$desc: code $code" "$code" "$(echo "$b" | jq -r .code 2>/dev/null)"
        check_eq "$desc: body has code, message, field" "true" \
                "$(echo "$b" | jq 'has("code") and has("message") and has("field") and (.message | type == "string")' 2>/dev/null)"
        check_match "$desc: field" "^($field)\$" "$(echo "$b" | jq -r .field 2>/dev/null)"
}
# case_jq DESC FIELD JQ_FILTER: the good document changed by the filter.
case_jq() {
        echo "$good" | jq -c "$3" >"$IT_TMP/req"
        expect "$1" 400 InvalidArgument "$2" "$IT_TMP/req"
}
case_raw() { # DESC STATUS CODE FIELD printf-FORMAT
        # shellcheck disable=SC2059
        printf "$5" >"$IT_TMP/req"
        expect "$1" "$2" "$3" "$4" "$IT_TMP/req"
}

case_jq "unknown field" 'spec\.bogus' '.spec.bogus = 1'
case_jq "unknown top-level field" 'bogus' '.bogus = 1'
case_jq "bad size 12Xi" 'spec\.resources\.memory' '.spec.resources = {"memory": "12Xi"}'
case_jq "size overflow 9999999999Ti" 'spec\.resources\.memory' '.spec.resources = {"memory": "9999999999Ti"}'
case_jq "fractional bytes" 'spec\.resources\.memory' '.spec.resources = {"memory": "4194304.5"}'
case_jq "memory below the minimum" 'spec\.resources\.memory' '.spec.resources = {"memory": "1Ki"}'
case_jq "bad cpu" 'spec\.resources\.cpu' '.spec.resources = {"cpu": "0.0001"}'
case_jq "negative pids" 'spec\.resources\.pids' '.spec.resources = {"pids": -1}'
case_jq "relative rootfs" 'spec\.rootfs' '.spec.rootfs = "srv/rootfs"'
case_jq "rootfs with .." 'spec\.rootfs' '.spec.rootfs = "/srv/../etc"'
case_jq "workingDir with .." 'spec\.workingDir' '.spec.workingDir = "/tmp/../.."'
case_jq "relative workingDir" 'spec\.workingDir' '.spec.workingDir = "tmp"'
case_jq "bad name (uppercase, underscore)" 'metadata\.name' '.metadata.name = "Bad_Name"'
case_jq "name too long" 'metadata\.name' '.metadata.name = ("a" * 64)'
case_jq "missing name" 'metadata\.name' 'del(.metadata.name)'
case_jq "empty command" 'spec\.command' '.spec.command = []'
case_jq "command not strings" 'spec\.command(\[0\]|\.0)?' '.spec.command = [1]'
case_jq "bad env name" 'spec\.env(\..*|\[.*\])?' '.spec.env = {"1BAD=": "x"}'
case_jq "bad restart policy" 'spec\.restartPolicy' '.spec.restartPolicy = "Sometimes"'
case_jq "bad network mode" 'spec\.network(\.mode)?' '.spec.network = {"mode": "wifi"}'
case_jq "bad isolation" 'spec\.isolation' '.spec.isolation = "chroot"'
case_jq "wrong apiVersion" 'apiVersion' '.apiVersion = "berth/v9"'
case_jq "wrong kind" 'kind' '.kind = "Pod"'
case_jq "wrong type for labels" 'metadata\.labels' '.metadata.labels = "x"'

# duplicate key (jq cannot produce one)
printf '%s' "$good" | sed 's/"rootfs":/"rootfs":"\/a","rootfs":/' >"$IT_TMP/req"
expect "duplicate key" 400 InvalidArgument '(spec\.)?rootfs' "$IT_TMP/req"
# NUL inside a string (escaped) and a raw NUL byte
printf '%s' "$good" | sed 's|"/bin/true"|"/bin/tr\\u0000ue"|' >"$IT_TMP/req"
expect "NUL in a string" 400 InvalidArgument 'null|spec\.command(\[0\]|\.0)?' "$IT_TMP/req"
printf '%s' "$good" | sed 's|"/bin/true"|"/bin/tr@ue"|' | tr '@' '\000' >"$IT_TMP/req"
expect "raw NUL byte" 400 InvalidArgument 'null|spec\.command(\[0\]|\.0)?' "$IT_TMP/req"
# invalid UTF-8
printf '%s' "$good" | sed 's|"/bin/true"|"/bin/tr@ue"|' | sed $'s/@/\xff\xfe/' >"$IT_TMP/req"
expect "invalid UTF-8" 400 InvalidArgument 'null|spec\.command(\[0\]|\.0)?' "$IT_TMP/req"
case_raw "not JSON" 400 InvalidArgument 'null' '{"apiVersion": '
case_raw "JSON array" 400 InvalidArgument 'null' '[1,2]'
case_raw "empty body" 400 InvalidArgument 'null' ''
# 2 MiB body -> 413 before it is read in full
{ printf '{"apiVersion":"berth/v1","kind":"Workload","metadata":{"name":"big"},"spec":{"rootfs":"/","command":["'
  head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x'
  printf '"]}}'; } >"$IT_TMP/req"
expect "2 MiB body" 413 PayloadTooLarge 'null' "$IT_TMP/req"
check_eq "daemon still healthy after bad input" "200" "$(api GET /healthz)"
check_eq "nothing was created by bad input" "0" "$(api_json GET /v1/workloads | jq '.items | length')"

# the good document is accepted; the same name again is 409
echo "$good" >"$IT_TMP/req"
check_eq "good document -> 201" "201" "$(post_doc "$good")"
check_eq "same name again -> 409" "409" "$(post_doc "$good")"
check_eq "409 code AlreadyExists" "AlreadyExists" "$(body | jq -r .code)"

# routes, methods and parameters
check_eq "unknown workload -> 404" "404" "$(api GET /v1/workloads/nosuch)"
check_eq "404 code NotFound" "NotFound" "$(body | jq -r .code)"
check_eq "wait on unknown workload -> 404" "404" "$(api GET /v1/workloads/nosuch/wait)"
check_eq "unknown route -> 404" "404" "$(api GET /v1/nothing)"
check_eq "wrong method -> 405" "405" "$(api DELETE /v1/workloads)"
check_eq "405 code MethodNotAllowed" "MethodNotAllowed" "$(body | jq -r .code)"
check_eq "wrong method on /v1/node -> 405" "405" "$(api POST /v1/node)"
check_eq "unknown query parameter -> 400" "400" "$(api GET '/v1/workloads?bogus=1')"
check_match "400 names the parameter" "bogus" "$(body | jq -r '"\(.field) \(.message)"')"
ctl wait good >/dev/null
check_eq "kill with a bad signal -> 400" "400" "$(api POST '/v1/workloads/good/kill?signal=SIGNOPE')"
check_eq "stop with a bad timeout -> 400" "400" "$(api POST '/v1/workloads/good/stop?timeout=abc')"
check_eq "events with a bad since -> 400" "400" "$(api GET '/v1/events?since=-1x')"
check_eq "logs with a bad tail -> 400" "400" "$(api GET '/v1/workloads/good/logs?tail=x')"
# A VM passes validation; it is created (201), or refused for what the node
# lacks: no VM driver (501), or on a fresh machine no guest kernel yet (400
# naming spec.vm and deploy/fetch-guest-kernel.sh; the VM tests fetch it).
st=$(post_doc "$(echo "$good" | jq -c '.metadata.name = "vm1" | .spec.isolation = "vm"')")
vm_ok() {
        [[ $st == 501 || $st == 201 ]] ||
                [[ $st == 400 && $(body | jq -r .field) == spec.vm && $(body) == *fetch-guest-kernel.sh* ]]
}
check "isolation vm -> 201, 501, or 400 for the missing guest kernel ($st: $(body | head -c 200))" vm_ok

finish
