/* peer.c - who is on the other end of a connection (see peer.h). */
#include "daemon/requests/peer.h"

#include "daemon/config/generation.h"
#include "shared/log.h"
#include "shared/names.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux 6.5 and 6.11; older headers lack them (older kernels answer ENOPROTOOPT / ENOTTY). */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9)
#endif

#define LOGIN_CACHE  256
#define LOGIN_TTL_MS 30000 /* names from NSS other than files (LDAP) are re-read this often */

struct peers {
        /* uid -> login (getpwuid reads /etc/passwd: too slow to repeat per connection) */
        pthread_mutex_t names_lock;
        struct login_entry {
                uid_t uid;
                char *login; /* NULL: no account */
                int64_t at_ms;
        } names[LOGIN_CACHE];
        size_t n_names;
        struct stat passwd_st;
        int64_t passwd_checked_ms;
        struct stat userns; /* ds01d's own user namespace: callers must be in it */
};

struct peers *peers_new(void)
{
        struct peers *s = xzalloc(sizeof(*s));
        pthread_mutex_init(&s->names_lock, NULL);
        if (stat("/proc/self/ns/user", &s->userns) < 0)
                log_warning("cannot read ds01d's user namespace: %s", strerror(errno));
        return s;
}

struct peers *peers_free(struct peers *s)
{
        if (s) {
                for (size_t i = 0; i < s->n_names; i++)
                        free(s->names[i].login);
                pthread_mutex_destroy(&s->names_lock);
                free(s);
        }
        return NULL;
}

/* The login name of uid (a new string), or NULL when it has no account. Cached while
 * /etc/passwd is unchanged, for at most LOGIN_TTL_MS. */
char *peer_login(struct peers *s, uid_t uid)
{
        struct stat st;
        int64_t now = mono_ms();
        char *login = NULL;
        pthread_mutex_lock(&s->names_lock);
        /* /etc/passwd is looked at once a second at most (a stat per connection was 3% of a
         * container-list) */
        bool have_st = false;
        if (now - s->passwd_checked_ms >= 1000) {
                s->passwd_checked_ms = now;
                have_st = stat("/etc/passwd", &st) == 0;
        }
        if (have_st && (st.st_ino != s->passwd_st.st_ino || st.st_size != s->passwd_st.st_size ||
                        st.st_mtim.tv_sec != s->passwd_st.st_mtim.tv_sec ||
                        st.st_mtim.tv_nsec != s->passwd_st.st_mtim.tv_nsec)) {
                for (size_t i = 0; i < s->n_names; i++)
                        free(s->names[i].login);
                s->n_names = 0;
                s->passwd_st = st;
        }
        for (size_t i = 0; i < s->n_names; i++)
                if (s->names[i].uid == uid && now - s->names[i].at_ms < LOGIN_TTL_MS) {
                        login = s->names[i].login ? xstrdup(s->names[i].login) : NULL;
                        pthread_mutex_unlock(&s->names_lock);
                        return login;
                }
        pthread_mutex_unlock(&s->names_lock);

        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
                login = xstrdup(pw.pw_name);
        pthread_mutex_lock(&s->names_lock);
        size_t slot = s->n_names;
        for (size_t i = 0; i < s->n_names; i++)
                if (s->names[i].uid == uid || now - s->names[i].at_ms >= LOGIN_TTL_MS) {
                        slot = i;
                        break;
                }
        if (slot == LOGIN_CACHE)
                slot = (size_t)(now % LOGIN_CACHE);
        if (slot == s->n_names)
                s->n_names++;
        else
                free(s->names[slot].login);
        s->names[slot] = (struct login_entry){uid, login ? xstrdup(login) : NULL, now};
        pthread_mutex_unlock(&s->names_lock);
        return login;
}

/* The peer's uid, gid and pid (what the accept loop needs for its per-uid bound). */
int peer_creds(int fd, struct caller *ret, struct error **err)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return error_set_errno(err, errno, "SO_PEERCRED");
        memset(ret, 0, sizeof(*ret));
        ret->uid = cred.uid;
        ret->gid = cred.gid;
        ret->pid = cred.pid;
        return 0;
}

/* Whether the peer is in ds01d's user namespace: 1 yes, 0 no, -1 it cannot be told (the process
 * is gone). A process in a user namespace of its own could otherwise reach the socket as any of
 * its subordinate uids, each a caller with fresh limits. The namespace comes from a pidfd the
 * kernel took at connect() (SO_PEERPIDFD, Linux 6.5; PIDFD_GET_USER_NAMESPACE, 6.11), so no
 * pid can be recycled in between. On older kernels the pid is looked up in /proc: with a pidfd,
 * the process is checked to be alive after the lookup (then the pid was not reused); without
 * one (before 6.5) a process that exits and whose pid is reused by a process in another
 * namespace between connect() and the lookup could be judged by that process - it could only
 * be refused wrongly or let in as the uid the kernel already vouched for. */
int peer_in_our_userns(struct peers *s, int fd, pid_t pid)
{
        int pidfd = -1, r = -1;
        socklen_t len = sizeof(pidfd);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
                pidfd = -1;
        struct stat st;
        int ns = pidfd >= 0 ? ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0) : -1;
        if (ns >= 0) {
                if (fstat(ns, &st) == 0)
                        r = st.st_dev == s->userns.st_dev && st.st_ino == s->userns.st_ino;
                close(ns);
        }
        if (r < 0 && pid > 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
                if (stat(path, &st) == 0 &&
                    (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0))
                        r = st.st_dev == s->userns.st_dev && st.st_ino == s->userns.st_ino;
        }
        if (pidfd >= 0)
                close(pidfd);
        return r;
}

static bool service_uid(struct ds01d *d, uid_t uid)
{
        bool ok = false;
        struct ds01d v;
        ds01d_pin(d, &v);
        for (size_t i = 0; i < v.cfg->n_service_uids && !ok; i++)
                ok = (int64_t)uid >= v.cfg->service_uids[i].lo &&
                     (int64_t)uid <= v.cfg->service_uids[i].hi;
        ds01d_unpin(&v);
        return ok;
}

/* The rest of who is asking: groups, login, admin. On the connection's thread. A uid without an
 * account (and not in service_uids) is refused with DS01_EPERM. */
int peer_identify(struct peers *s, struct ds01d *d, int fd, struct caller *ret, struct error **err)
{
        /* SO_PEERGROUPS: the supplementary groups the kernel recorded at connect(). */
        socklen_t glen = 64 * sizeof(gid_t);
        for (int tries = 0; tries < 4; tries++) {
                gid_t *g = xmalloc(glen ? glen : sizeof(gid_t));
                socklen_t l = glen;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &l) == 0) {
                        ret->gids = g;
                        ret->n_gids = l / sizeof(gid_t);
                        break;
                }
                free(g);
                if (errno != ERANGE)
                        return error_set_errno(err, errno, "SO_PEERGROUPS");
                glen = l > glen ? l : glen * 2;
        }

        ret->login = peer_login(s, ret->uid);
        if (!ret->login && !service_uid(d, ret->uid))
                return error_set(err, DS01_EPERM,
                                 "uid %u has no account on this host (no passwd entry): ds01 "
                                 "serves users with an account - if this is a service account, "
                                 "ask an administrator to list the uid in service_uids in "
                                 "ds01.yaml",
                                 (unsigned)ret->uid);
        /* before the stand-in login below, which may be a real user's login */
        ret->user_part = names_user_part(ret->login, ret->uid);
        if (!ret->login)
                ret->login = xasprintf("u%u", (unsigned)ret->uid);
        ret->admin = ret->uid == 0;
        struct ds01d v;
        ds01d_pin(d, &v);
        gid_t admin_gid = v.admin_gid;
        ds01d_unpin(&v);
        if (!ret->admin && admin_gid != (gid_t)-1) {
                ret->admin = ret->gid == admin_gid;
                for (size_t i = 0; i < ret->n_gids; i++)
                        ret->admin |= ret->gids[i] == admin_gid;
        }
        return 0;
}
