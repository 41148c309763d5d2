#!/usr/bin/env bash
# Lays out fuzz/corpus/<target>/ from the fixtures (tests/fixtures/ and,
# where present, ../shared/fixtures/ beside the checkout or
# /work/shared/fixtures/) plus a few hand-made inputs. Idempotent: files are
# named by content hash, so a fixture present in both places is one seed.
set -euo pipefail
cd "$(dirname "$0")"
repo=..
dirs=("$repo/tests/fixtures")
for d in "$repo/../shared/fixtures" /work/shared/fixtures; do
    [ -d "$d" ] && dirs+=("$d")
done

put() { # target file-or-dash(stdin) [prefix-byte-octal]
    local target=$1 src=$2 tmp
    mkdir -p "corpus/$target"
    tmp=$(mktemp)
    if [ "$#" -ge 3 ]; then printf "\\$3" >"$tmp"; fi
    if [ "$src" = - ]; then cat >>"$tmp"; else cat "$src" >>"$tmp"; fi
    mv "$tmp" "corpus/$target/seed-$(sha1sum "$tmp" | cut -c1-16)"
}

for d in "${dirs[@]}"; do
    for f in "$d"/*.csv; do put credential_report "$f"; done
    for f in "$d"/*.json; do
        put github_page "$f"
        put snowflake_result_set "$f"
    done
    # Partitions: the claimed row count first (2 for the fixture's
    # partition 1, which holds 2 rows), then the body.
    for f in "$d"/snowflake-show-users-partition-*.json; do put snowflake_partition "$f" 002; done
    [ -f "$d/snowflake-show-users-200.json" ] && put snowflake_partition "$d/snowflake-show-users-200.json" 003
done

# Hand-made: the header alone, columns reordered with quoting, a CRLF file.
printf 'user,arn,password_enabled,mfa_active\n' | put credential_report -
printf 'mfa_active,"user",arn,password_enabled\r\nfalse,"a,b",arn:aws:iam::1:user/a,N/A\r\n' | put credential_report -
printf '[]' | put github_page -
printf '[{"login":"a","id":1,"type":"User"},{"login":"b","id":18446744073709551615}]' | put github_page -
# The Link header GitHub sends (fixtures README), a one-link header, two values.
printf '<https://api.github.com/organizations/1000/members?filter=all&per_page=100&page=2>; rel="next", <https://api.github.com/organizations/1000/members?filter=all&per_page=100&page=7>; rel="last"' | put github_link -
printf '<https://api.github.com/organizations/1000/members?page=3&per_page=100>; rel="prev first"' | put github_link -
printf '<https://ghe.example/api/v3/orgs/x/members?page=2>; rel=next\n<https://ghe.example/api/v3/orgs/x/members?page=9>; rel="last"' | put github_link -
printf '{"resultSetMetaData":{"numRows":1,"rowType":[{"name":"NAME"},{"name":"has_mfa"}],"partitionInfo":[{"rowCount":1}]},"statementHandle":"h","data":[["A","true"]]}' | put snowflake_result_set -
printf '{"data":[]}' | put snowflake_partition - 000
printf '{}' | put snowflake_partition - 000

for t in corpus/*; do echo "$t: $(ls "$t" | wc -l) seeds"; done
