/* keepalive.c - container-keepalive: a time-limited exemption from the idle rule (see keepalive.h).
 */
#include "daemon/rules/keepalive.h"

#include "daemon/containers/managed.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/requests/access.h"
#include "shared/parse.h"

int keepalive_set(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        _cleanup_free_ char *name = NULL, *project = NULL;
        json_t *inspect = NULL;
        struct caller owner = {0};
        if (access_container(d, c, jstr(params, "name"), "keepalive", &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        if (!inspect) {
                access_not_found(jstr(params, "name"), err);
                goto out;
        }
        if (managed_owner(d, inspect, &owner) < 0) {
                error_set(err, DS01_ERR, "container '%s' has no owner with an account", name);
                goto out;
        }
        struct limit_set ls;
        limits_resolve(d->limits, owner.login, owner.gids, owner.n_gids, &ls);
        double max_h = ls.policies.keepalive_max_duration_h;
        limit_set_release(&ls);
        bool off = json_is_true(json_object_get(params, "off"));
        json_int_t secs = json_integer_value(json_object_get(params, "seconds"));
        char b1[32], b2[32];
        project = managed_project(inspect);
        if (!off && (max_h <= 0 || (double)secs > max_h * 3600.0)) {
                error_set(err, DS01_EUSAGE,
                          "a keep-alive of %s is longer than your group allows (%s, "
                          "keepalive_max_duration_h) - ask for at most %s, e.g. "
                          "container-keepalive %s %s",
                          format_duration(secs, b1), format_duration((int64_t)(max_h * 3600), b2),
                          b2, project ? project : name, b2);
                goto out;
        }
        if (!off && secs <= 0) {
                error_set(err, DS01_EUSAGE, "give a duration such as 2h, or 'off'");
                goto out;
        }
        int64_t until = off ? 0 : now_s() + secs;
        if (store_set_keepalive(d->store, name, until, err) < 0)
                goto out;
        char ts[32];
        events_log(d->events, "container.keepalive", c->login,
                   json_pack("{s:s, s:o}", "container", name, "until",
                             off ? json_null() : json_string(format_iso8601(until, ts))));
        *ret_result = json_pack("{s:s, s:I, s:I}", "container", name, "until", (json_int_t)until,
                                "max_s", (json_int_t)(max_h * 3600));
        r = 0;
out:
        caller_release(&owner);
        json_decref(inspect);
        return r;
}
