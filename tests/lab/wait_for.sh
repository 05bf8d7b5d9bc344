# Sourced by the scripts that run inside the labs (busybox sh): wait_for FILE REGEX SECONDS
# returns 0 once FILE has a line matching REGEX, 1 after SECONDS (polled every 0.2 s).
wait_for() {
	i=0
	while [ $i -lt $(($3 * 5)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# wait_progress FILE REGEX PID STALL_SECONDS: waits for the event as long as the process
# PID (a pagoda whose guest works towards it, e.g. populating its RAM under nested
# emulation) makes progress: 0 once FILE has a line matching REGEX; 1 when PID ended, or
# when its resident memory and CPU time stood still for STALL_SECONDS (stuck: said on
# stderr), or after 900 s in all. A fixed wait fails whenever the lab is slower than
# whoever chose it.
wait_progress() {
	last= still=0 i=0
	while [ $i -lt 4500 ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		if ! [ -d "/proc/$3" ]; then
			grep -q "$2" "$1" 2>/dev/null && return 0
			echo "wait_progress: process $3 ended before /$2/ in $1" >&2
			return 1
		fi
		now="$(grep VmRSS "/proc/$3/status" 2>/dev/null) $(cut -d' ' -f14,15 "/proc/$3/stat" 2>/dev/null)"
		if [ "$now" = "$last" ]; then
			still=$((still + 1))
			if [ $still -ge $(($4 * 5)) ]; then
				echo "wait_progress: process $3 made no progress for $4 s waiting for /$2/ in $1" >&2
				return 1
			fi
		else
			still=0 last=$now
		fi
		sleep 0.2
		i=$((i + 1))
	done
	echo "wait_progress: /$2/ not in $1 after 900 s" >&2
	return 1
}

# reap SECONDS PID...: waits for each process (asked to end already) for up to SECONDS in
# all; one still running then is named on stdout and killed. A pagoda that does not end
# thus fails its step with the output around it, instead of running into the lab's
# timeout with nothing said.
reap() {
	limit=$(($1 * 5)) i=0
	shift
	for p in "$@"; do
		while [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && [ $i -lt $limit ]; do
			sleep 0.2
			i=$((i + 1))
		done
		if [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
			echo "reap: process $p ($(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-120)) still running: killed"
			kill -9 "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
}
