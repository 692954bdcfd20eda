/* procowner.h - whom a process on a GPU belongs to, read from /proc/PID: its real uid and
 * command, the Docker container it runs in (the container id in its cgroup path) and whether it
 * runs in a PID namespace of its own (a container, even one whose cgroup names no Docker id).
 *
 * PIDs come from NVML, never from users, and only the kernel's own files are read
 * (/proc/PID/{status,comm,cgroup} opened with O_NOFOLLOW, the ns/pid link read, never followed).
 * A process may end between NVML's list and these reads: that is normal, and the caller treats
 * it as gone. Nothing is ever sent to the process. No state, no lock. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define PROCOWNER_ID_LEN 64 /* Docker's full container id: 64 hex digits */

struct procowner {
        uid_t uid;                               /* real uid */
        char comm[32];                           /* /proc/PID/comm, "?" when unreadable */
        char container_id[PROCOWNER_ID_LEN + 1]; /* "" when its cgroup names no container */
        bool own_pidns;                          /* a PID namespace other than PID 1's */
        char pidns[32];                          /* "pid:[4026531836]", "" when unreadable */
};

/* Reads pid's owner. 0, or -errno (-ENOENT or -ESRCH: the process is gone). */
int procowner_read(pid_t pid, struct procowner *ret);

/* pid's PID namespace as the kernel names it ("pid:[4026531836]"). 0 or -errno. */
int procowner_pidns(pid_t pid, char *buf, size_t size);

/* The Docker container id in the text of a /proc/PID/cgroup file: a path component that is the
 * id itself (cgroupfs driver: ".../docker/<id>") or "docker-<id>.scope" (systemd driver), on
 * any line (v1 hierarchies or the v2 one). Writes it to ret and returns true; false when none.
 * Pure (the fuzz target and unit tests call it). */
bool procowner_container_id(const char *cgroup_text, char ret[static PROCOWNER_ID_LEN + 1]);
