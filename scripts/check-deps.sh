#!/usr/bin/env bash
# The server's dependency rule (docs/architecture.md), read from the code: every `crate::…`
# path in server/src (outside comments) must name a module its own module may use.
#
#   ws, http  -> service (ws also the hub's connection queue and cursor: hub::conn, hub::cursor;
#                http also push, for the Web Push subscriptions)
#   push      -> hub, store
#   service   -> hub, committer, store, access, bus (its events), attachments
#   committer -> hub, store, bus
#   indexer   -> store
#   hub       -> bus, store, access
#   access    -> store
#   store, bus, config, shutdown, attachments -> nothing of the crate
#   nothing but app.rs, lib.rs and main.rs names ws or http.
#
# Exits 1 and names each violation. Usage: scripts/check-deps.sh [server/src]
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-server/src}"

# Modules any module may use: the error type, the token verifier, the shared state handle.
common="error auth"
allowed_for() {
    case "$1" in
        ws) echo "$common state service hub::conn hub::cursor" ;;
        http) echo "$common state service push" ;;
        push) echo "$common hub store" ;;
        service) echo "$common hub committer store access bus attachments" ;;
        committer) echo "error hub store bus" ;;
        indexer) echo "store" ;;
        hub) echo "bus store access" ;;
        access) echo "store" ;;
        store | bus | config | shutdown | attachments) echo "" ;;
        error) echo "store auth" ;;
        auth) echo "config" ;;
        state) echo "$common service push" ;;
        demo) echo "$common state store" ;;
        *) echo "UNKNOWN" ;;
    esac
}

status=0
while IFS= read -r file; do
    rel="${file#"$src"/}"
    module="${rel%%/*}"
    module="${module%.rs}"
    case "$module" in app | lib | main) continue ;; esac
    allowed="$(allowed_for "$module")"
    if [ "$allowed" = "UNKNOWN" ]; then
        echo "check-deps: $rel: module '$module' has no rule; add one to scripts/check-deps.sh"
        status=1
        continue
    fi
    # Code only: drop line comments (doc comments name modules freely), and an inline test
    # module (`#[cfg(test)]` then `mod … {` at the top level, to the end of the file: tests
    # build whole hubs with `app`).
    code="$(awk '
        stop { next }
        pending && /^mod [a-z_]+ \{/ { stop = 1; next }
        pending { print held; pending = 0 }
        /^#\[cfg\(test\)\]$/ { held = $0; pending = 1; next }
        { print }
        END { if (pending && !stop) print held }
    ' "$file" | sed -E 's@^[[:space:]]*//.*$@@; s@[[:space:]]//[^"]*$@@')"
    if grep -nE 'crate::\{|super::super::' <<<"$code" >/dev/null; then
        grep -nE 'crate::\{|super::super::' <<<"$code" | while IFS= read -r line; do
            echo "check-deps: $rel:${line%%:*}: write one \`use crate::module::…\` per module (the check reads paths)"
        done
        status=1
    fi
    while IFS= read -r hit; do
        [ -n "$hit" ] || continue
        lineno="${hit%%:*}"
        path="${hit#*:}"
        path="${path#crate::}"
        target="${path%%::*}"
        [ "$target" = "$module" ] && continue
        ok=0
        for a in $allowed; do
            if [ "$path" = "$a" ] || [[ "$path" == "$a::"* ]] || { [[ "$a" != *::* ]] && [ "$target" = "$a" ]; }; then
                ok=1
                break
            fi
        done
        if [ "$ok" = 0 ]; then
            echo "check-deps: $rel:$lineno: '$module' may not use crate::$path (allowed: ${allowed:-nothing})"
            status=1
        fi
    done < <(grep -noE 'crate::[a-z_]+(::[a-z_]+)*' <<<"$code" || true)
done < <(find "$src" -name '*.rs' | sort)

if [ "$status" = 0 ]; then
    echo "check-deps: ok"
fi
exit "$status"
