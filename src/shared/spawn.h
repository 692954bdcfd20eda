/* spawn.h - running a system program the daemon relies on (iptables, systemctl, sacctmgr): no
 * shell, a fixed PATH or an environment the caller gives, stdin on /dev/null (callers say what
 * failed). No state. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs the first of paths[0..n) that is executable with argv[1..] (argv[0] is set here to that
 * path) and waits for it. Returns its exit status, or -1 if none could run (or it died of a
 * signal). Its output goes to /dev/null. */
int spawn_wait(const char *const *paths, size_t n, const char *argv[]);

/* Runs path with argv (argv[0] included, NULL-terminated) and envp (NULL-terminated: the whole
 * environment) and collects its stdout and stderr, each cut at max_bytes (the rest is read and
 * dropped). A child still running after timeout_ms is killed (SIGKILL). Returns its exit status
 * and sets *ret_out and *ret_err (NUL-terminated, the caller frees); -1 with errno set when it
 * could not be started (nothing is set), -2 when it was killed for the time limit or died of a
 * signal (the output up to then is set). */
int spawn_capture(const char *path, const char *const argv[], const char *const envp[],
                  int64_t timeout_ms, size_t max_bytes, char **ret_out, char **ret_err);
/* spawn_capture that also gives up, as for the time limit (-2), within a second of *stop becoming
 * true (a daemon that is stopping does not wait out a child's time limit; NULL: never). */
int spawn_capture_until(const char *path, const char *const argv[], const char *const envp[],
                        int64_t timeout_ms, const _Atomic bool *stop, size_t max_bytes,
                        char **ret_out, char **ret_err);
