/* spawn.h - running a system program the daemon relies on (iptables, systemctl): no shell, a
 * fixed PATH, stdin and output on /dev/null (callers say what failed). No state. */
#pragma once

#include <stddef.h>

/* Runs the first of paths[0..n) that is executable with argv[1..] (argv[0] is set here to that
 * path) and waits for it. Returns its exit status, or -1 if none could run (or it died of a
 * signal). */
int spawn_wait(const char *const *paths, size_t n, const char *argv[]);
