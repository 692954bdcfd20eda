/* caller.c - who is asking, as an account: login, groups, limits (see caller.h). */
#include "daemon/requests/caller.h"

#include "daemon/ds01d.h"
#include "shared/names.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>

void caller_release(struct caller *c)
{
        free(c->gids);
        free(c->login);
        free(c->user_part);
        memset(c, 0, sizeof(*c));
}

/* The user's passwd entry, for operations on another user's behalf (admin, reconcile). */
static int lookup_uid(uid_t uid, gid_t *ret_gid, char **ret_login)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -1;
        *ret_gid = pw.pw_gid;
        *ret_login = xstrdup(pw.pw_name);
        return 0;
}

/* The owner of a container as a caller (uid, gid, login, groups), for work done on their behalf:
 * an admin's start, a re-lease, the monitor. */
/* The account of uid as a caller, with its groups (getgrouplist, grown past 64 if needed). */
int caller_for(uid_t uid, struct caller *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (lookup_uid(uid, &ret->gid, &ret->login) < 0)
                return -1;
        ret->uid = uid;
        ret->user_part = names_user_part(ret->login, uid);
        int n = 64;
        ret->gids = xcalloc((size_t)n, sizeof(gid_t));
        if (getgrouplist(ret->login, ret->gid, ret->gids, &n) < 0) {
                ret->gids = xrealloc(ret->gids, (size_t)n * sizeof(gid_t));
                if (getgrouplist(ret->login, ret->gid, ret->gids, &n) < 0)
                        n = 0;
        }
        ret->n_gids = (size_t)(n > 0 ? n : 0);
        return 0;
}

void caller_limits(struct ds01d *d, const struct caller *c, struct limit_set *ret)
{
        limits_resolve(d->limits, c->login, c->gids, c->n_gids, ret);
}
