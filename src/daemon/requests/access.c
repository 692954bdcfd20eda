/* access.c - who may act on which container, exec session or user (see access.h). */
#include "daemon/requests/access.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/execs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/observe/audit.h"
#include "shared/names.h"

#include <stdio.h>
#include <string.h>

void access_denied(struct ds01d *d, const struct caller *c, const char *action, const char *target)
{
        audit_denied(d->audit, c->uid, c->login, action, target);
}

int access_not_found(const char *what, struct error **err)
{
        /* For a full name, the hint names only the project part: that is what deploy takes. */
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        if (names_split_container(what, &project, &user_part) == 0)
                return error_set(err, DS01_ENOTFOUND,
                                 "no container '%s' - container-list shows yours", what);
        return error_set(err, DS01_ENOTFOUND,
                         "no container '%s' - container-list shows yours, container-deploy %s "
                         "creates one",
                         what, what);
}

/* The container a request names. NAME is a project of the caller, or (admins, and callers
 * naming their own) a full "<project>._.<user>" name. Someone else's container is "not found"
 * and audited. *ret_inspect is Docker's inspect of it, or NULL when Docker has no such
 * container but the ledger does (ret_name is still set). */
int access_container(struct ds01d *d, const struct caller *c, const char *name, const char *action,
                     char **ret_name, json_t **ret_inspect, struct error **err)
{
        _cleanup_free_ char *container = NULL;
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        if (names_split_container(name, &project, &user_part) == 0) {
                if (names_check_project(project, err) < 0 ||
                    names_check_user_part(user_part, err) < 0)
                        return -1;
                if (!streq(user_part, c->user_part) && !c->admin) {
                        access_denied(d, c, action, name);
                        return access_not_found(name, err);
                }
                container = xstrdup(name);
        } else {
                if (names_check_project(name, err) < 0)
                        return -1;
                container = names_container(name, c->user_part);
        }

        struct error *derr = NULL;
        json_t *inspect = docker_container_inspect(d->docker, container, &derr);
        if (!inspect) {
                bool missing = derr->code == DS01_ENOTFOUND;
                if (!missing) {
                        error_set(err, derr->code, "%s", derr->message);
                        error_free(derr);
                        return -1;
                }
                error_free(derr);
                struct store_container sc;
                if (store_get(d->store, container, &sc, NULL) == 0) {
                        bool mine = sc.uid == c->uid || c->admin;
                        store_container_release(&sc);
                        if (mine) {
                                *ret_name = TAKE_PTR(container);
                                *ret_inspect = NULL;
                                return 0;
                        }
                }
                return access_not_found(name, err);
        }
        /* Only containers this daemon created; and only the caller's own (by the ledger's
         * owner, not by the name) unless admin. */
        struct store_container rec;
        if (!managed_record(d, inspect, &rec)) {
                json_decref(inspect);
                return access_not_found(name, err);
        }
        bool mine = rec.uid == (unsigned)c->uid;
        store_container_release(&rec);
        if (!c->admin && !mine) {
                json_decref(inspect);
                access_denied(d, c, action, name);
                return access_not_found(name, err);
        }
        *ret_name = TAKE_PTR(container);
        *ret_inspect = inspect;
        return 0;
}

int access_exec(struct ds01d *d, const struct caller *c, const char *action, const char *id,
                struct error **err)
{
        uid_t owner;
        if (!execs_owner(d, id, &owner))
                return error_set(err, DS01_ENOTFOUND, "no session '%.80s'", id);
        if (owner != c->uid && !c->admin) {
                access_denied(d, c, action, id);
                return error_set(err, DS01_ENOTFOUND, "no session '%.80s'", id);
        }
        return 0;
}

/* The verb of a method for the audit trail: "stop" for container.stop, the method otherwise. */
static const char *verb_of(const char *method)
{
        return startswith(method, "container.") ? method + strlen("container.") : method;
}

int access_image(struct ds01d *d, const struct caller *c, const char *action, const char *ref,
                 struct error **err)
{
        unsigned owner;
        if (!ref || c->admin || sscanf(ref, "ds01-%u/", &owner) != 1 || owner == c->uid)
                return 0;
        access_denied(d, c, action, ref);
        return error_set(err, DS01_ENOTFOUND,
                         "no image '%.255s' of yours - image-list shows yours (ds01-%u/<project>)",
                         ref, (unsigned)c->uid);
}

/* A container named in full "<project>._.<user>" is another user's when the user part is not
 * the caller's (the ledger's owner is checked again when the handler takes it). */
static int check_container(struct ds01d *d, const struct caller *c, const char *action,
                           const char *name, struct error **err)
{
        _cleanup_free_ char *project = NULL, *user_part = NULL;
        if (!name || names_split_container(name, &project, &user_part) < 0)
                return 0;
        /* a malformed name is a usage error, for anyone, before it is anyone's */
        if (names_check_project(project, err) < 0 || names_check_user_part(user_part, err) < 0)
                return -1;
        if (c->admin || streq(user_part, c->user_part))
                return 0;
        access_denied(d, c, action, name);
        return access_not_found(name, err);
}

static int check_user(struct ds01d *d, const struct caller *c, const char *action, const char *user,
                      struct error **err)
{
        if (!user || c->admin || streq(user, c->login))
                return 0;
        access_denied(d, c, action, user);
        return error_set(err, DS01_ENOTFOUND,
                         "no user '%.64s' whose records you may read - leave out --user to see "
                         "your own",
                         user);
}

int access_authorise(struct ds01d *d, const struct caller *c, const struct access_rule *rule,
                     json_t *params, struct error **err)
{
        const char *action = verb_of(rule->method);
        if (rule->admin_only && !c->admin) {
                access_denied(d, c, action, "(administrators only)");
                return error_set(err, DS01_EPERM, "'%s' is for administrators", rule->method);
        }
        if (json_is_true(json_object_get(params, "all")) && !c->admin) {
                access_denied(d, c, action, "--all");
                return error_set(err, DS01_EPERM,
                                 "--all is for administrators only - leave it out to see yours");
        }
        switch (rule->target) {
        case TARGET_NONE:
                return 0;
        case TARGET_CONTAINER:
                return check_container(d, c, action, jstr(params, "name"), err);
        case TARGET_IMAGE:
                /* deploy's --image, image-delete's image (or project) */
                if (access_image(d, c, action, jstr(params, "image"), err) < 0)
                        return -1;
                return access_image(d, c, action, jstr(params, "project"), err);
        case TARGET_EXEC:
                return access_exec(d, c, action, jstr(params, "exec_id"), err);
        case TARGET_USER:
                return check_user(d, c, action, jstr(params, "user"), err);
        }
        return 0;
}
