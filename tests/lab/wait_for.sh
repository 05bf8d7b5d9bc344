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
