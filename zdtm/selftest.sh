#!/bin/bash
# Self-test of the zdtm programs without checkpointing: each program is started
# with the zdtm protocol, gets SIGTERM ~0.5 s after its pidfile appears, and must
# end with PASS; with ZDTM_BREAK=1 it must end with FAIL.
#   zdtm/selftest.sh [NAME...]     (run from anywhere; needs `make -C zdtm` and `tsc`)
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
WAIT=${ZDTM_SELFTEST_WAIT:-0.5}
TMP=$(mktemp -d /tmp/zdtm-selftest.XXXXXX)
chmod 1777 "$TMP"

progs=()
if [ $# -gt 0 ]; then
	progs=("$@")
else
	for f in zdtm/static/*.c zdtm/transition/*.c zdtm/static/*.ts zdtm/transition/*.ts; do
		[ -e "$f" ] || continue
		progs+=("$f")
	done
fi

cmd_of() {	# source file -> command
	case "$1" in
	*.c) local d=${1%/*}; d=${d##*/}; local n=${1##*/}; echo "$ROOT/zdtm/build/$d/${n%.c}" ;;
	*.ts) echo "node $ROOT/dist/${1%.ts}.js" ;;
	esac
}

gone() {	# pid exited (gone or zombie)
	local st
	[ -e /proc/$1/stat ] || return 0
	st=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

run_one() {	# src mode(normal|break) -> prints the last line of the outfile
	local src=$1 mode=$2 name=${1##*/}; name=${name%.*}
	local d=$TMP/$name.$mode
	mkdir -p "$d"; chmod 1777 "$d"
	local cmd; cmd=$(cmd_of "$src")
	local brk=0; [ "$mode" = break ] && brk=1
	ZDTM_BREAK=$brk timeout 60 $cmd --pidfile="$d/pid" --outfile="$d/out" \
		--filename="$d/$name.test" --dirname="$d/$name.dir" </dev/null >"$d/launch.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] || [ ! -s "$d/pid" ]; then
		echo "LAUNCH-ERROR($rc)"; return
	fi
	local pid; pid=$(cat "$d/pid")
	sleep "$WAIT"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 600); do gone "$pid" && break; sleep 0.1; done
	if ! gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null; echo "TIMEOUT"; return
	fi
	tail -n 1 "$d/out"
}

passed=0; failed=0
for src in "${progs[@]}"; do
	name=${src##*/}
	n=$(run_one "$src" normal)
	b=$(run_one "$src" break)
	ok=1
	[ "$n" = PASS ] || ok=0
	case "$b" in FAIL:*) ;; *) ok=0 ;; esac
	if [ $ok = 1 ]; then
		passed=$((passed + 1)); st=ok
	else
		failed=$((failed + 1)); st=BAD
	fi
	printf '%-4s %-22s normal: %-30.30s break: %s\n' "$st" "$name" "$n" "$b"
done
echo "logs in $TMP"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
