/* images.c - per-user project images (see images.h): image.project and the Dockerfile template,
 * whose images a user may use, and listing, deleting and the disk their images take. Builds are
 * images-build.c and images-slots.c (images-internal.h). */
#include "daemon/images/images-internal.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/containers/workspace.h"
#include "shared/names.h"
#include "shared/strbuf.h"
#include "shared/dockerfile.h"

#include <stdio.h>
#include <sys/stat.h>

#define PKG_MAX 200

/* Package names as they may appear in a RUN line: no shell syntax. */
static bool package_ok(const char *p)
{
        size_t n = strlen(p);
        if (n == 0 || n > PKG_MAX || p[0] == '-')
                return false;
        for (; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("._+=<>!~,@:/-", *p)))
                        return false;
        return true;
}

static int packages(const json_t *list, const char *what, struct strbuf *out, struct error **err)
{
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v) {
                const char *p = json_string_value(v);
                if (!p || !package_ok(p))
                        return error_set(err, DS01_EUSAGE,
                                         "invalid %s package name '%.60s': use letters, digits and "
                                         "._+=<>!~,@:/- only",
                                         what, p ? p : "?");
                strbuf_addc(out, ' ');
                strbuf_add_shell_word(out, p); /* "scipy<2" is no redirection */
        }
        return 0;
}

/* The base image of framework fw (images.frameworks.NAME; "minimal" is images.default unless
 * the site names one). An unknown framework is a usage error that lists the server's. */
static const char *framework_image(const struct config *c, const char *fw, struct error **err)
{
        for (size_t i = 0; i < c->n_frameworks; i++)
                if (streq(c->frameworks[i].name, fw))
                        return c->frameworks[i].image;
        if (streq(fw, "minimal"))
                return c->image_default;
        struct strbuf known = STRBUF_INIT;
        strbuf_adds(&known, "minimal");
        for (size_t i = 0; i < c->n_frameworks; i++)
                if (!streq(c->frameworks[i].name, "minimal"))
                        strbuf_addf(&known, ", %s", c->frameworks[i].name);
        error_set(err, DS01_EUSAGE,
                  "no base image for framework '%.40s' on this server (it has: %s) - an "
                  "administrator adds one as images.frameworks.%.40s in ds01.yaml",
                  fw, strbuf_str(&known), fw);
        strbuf_release(&known);
        return NULL;
}

int images_project(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        const char *project = jstr(params, "project");
        const char *fw = jstr(params, "framework");
        bool create = json_is_true(json_object_get(params, "create"));
        const struct config *cfg = d->cfg;
        if (names_check_project(project, err) < 0 || (fw && !framework_image(cfg, fw, err)))
                return -1;
        _cleanup_free_ char *dir = workspace_path(cfg->workspace_root, project, c->uid, err);
        if (!dir)
                return -1;
        /* Only for the CLI to take back, as the user, an empty directory it asked for and did not
         * use: the checks are workspace_prepare()'s. */
        struct stat st;
        bool existed = lstat(dir, &st) == 0;
        if (create) {
                free(dir);
                dir = NULL;
                if (workspace_prepare(cfg->workspace_root, project, c->uid, c->gid, true, &dir,
                                      NULL, err) < 0)
                        return -1;
        }
        json_t *names = json_array();
        json_array_append_new(names, json_string("minimal"));
        for (size_t i = 0; i < cfg->n_frameworks; i++)
                if (!streq(cfg->frameworks[i].name, "minimal"))
                        json_array_append_new(names, json_string(cfg->frameworks[i].name));
        *ret_result = json_pack("{s:s, s:s, s:b, s:o}", "project", project, "dir", dir, "created",
                                create && !existed, "frameworks", names);
        return 0;
}

int images_template(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err)
{
        (void)c;
        const char *project = jstr(params, "project");
        const char *fw = jstr(params, "framework");
        const char *req = jstr(params, "requirements");
        if (names_check_project(project, err) < 0)
                return -1;
        if (!fw)
                fw = "minimal";
        const char *base = framework_image(d->cfg, fw, err);
        if (!base)
                return -1;
        if (req && (req[0] == '/' || strstr(req, "..") || !package_ok(req)))
                return error_set(err, DS01_EUSAGE,
                                 "--requirements must name a file inside the project directory");
        struct strbuf pip = STRBUF_INIT, apt = STRBUF_INIT, df = STRBUF_INIT;
        if (packages(json_object_get(params, "packages"), "python", &pip, err) < 0 ||
            packages(json_object_get(params, "system"), "system", &apt, err) < 0) {
                strbuf_release(&pip);
                strbuf_release(&apt);
                return -1;
        }
        strbuf_addf(&df,
                    "# Dockerfile of the ds01 project '%s', written by image-create: edit freely.\n"
                    "#   rebuild:      image-create %s\n"
                    "#   add packages: image-update %s --add \"pkg\" / --add-system \"pkg\"\n"
                    "# Base: framework '%s' (images.frameworks in the site's ds01.yaml).\n"
                    "FROM %s\n\n",
                    project, project, project, fw, base);
        strbuf_adds(&df,
                    "# You, inside the container (ds01 passes these when it builds): no sudo, no\n"
                    "# root password.\n"
                    "ARG DS01_UID=1000\n"
                    "ARG DS01_GID=1000\n"
                    "ARG DS01_USER=user\n"
                    "ARG DS01_HOME=/home/user\n"
                    "USER root\n"
                    "RUN sh=/bin/sh; [ -x /bin/bash ] && sh=/bin/bash; \\\n"
                    "    (grep -q \"^[^:]*:[^:]*:${DS01_GID}:\" /etc/group || \\\n"
                    "     echo \"${DS01_USER}:x:${DS01_GID}:\" >> /etc/group) && \\\n"
                    "    (grep -q \"^[^:]*:[^:]*:${DS01_UID}:\" /etc/passwd || \\\n"
                    "     echo \"${DS01_USER}:x:${DS01_UID}:${DS01_GID}::${DS01_HOME}:$sh\" >> "
                    "/etc/passwd) && \\\n"
                    "    mkdir -p \"${DS01_HOME}\" && chown \"${DS01_UID}:${DS01_GID}\" "
                    "\"${DS01_HOME}\"\n\n");
        strbuf_adds(&df, DOCKERFILE_SYS_BEGIN " (image-update --add-system edits this block)\n");
        if (apt.len)
                strbuf_addf(&df, DOCKERFILE_APT_RUN "%s " DOCKERFILE_APT_TAIL "\n",
                            strbuf_str(&apt));
        strbuf_adds(&df, DOCKERFILE_SYS_END "\n\n");
        strbuf_adds(&df, "# pip may install into the image's Python (PEP 668).\n"
                         "ENV PIP_BREAK_SYSTEM_PACKAGES=1\n");
        strbuf_adds(&df, DOCKERFILE_PY_BEGIN " (image-update --add edits this block)\n");
        if (pip.len)
                strbuf_addf(&df, DOCKERFILE_PIP_RUN "%s\n", strbuf_str(&pip));
        strbuf_adds(&df, DOCKERFILE_PY_END "\n");
        if (req)
                strbuf_addf(&df,
                            "COPY %s /tmp/ds01-requirements.txt\n" DOCKERFILE_PIP_RUN
                            " -r /tmp/ds01-requirements.txt\n",
                            req);
        /* Jupyter's defaults inside a ds01 container: reachable from the host through a
         * published port (container-port), so on every interface of the container; no
         * browser; the token stays Jupyter's random one (this sets none, so never an empty one) */
        strbuf_adds(
            &df,
            "\n# If you install Jupyter: it listens on the container's network, where\n"
            "# container-port NAME add 8888 reaches it, with its own random token\n"
            "# (see its output). Never set an empty token: ds01 publishes to you alone,\n"
            "# but the token also guards against your other containers.\n"
            "RUN mkdir -p /etc/jupyter && \\\n"
            "    for f in jupyter_server_config.py jupyter_notebook_config.py; do \\\n"
            "      printf '%s\\n' \"c = get_config()\" \"c.ServerApp.ip = '0.0.0.0'\" \\\n"
            "        \"c.ServerApp.port = 8888\" \"c.ServerApp.open_browser = False\" \\\n"
            "        \"c.NotebookApp.ip = '0.0.0.0'\" \"c.NotebookApp.open_browser = False\" \\\n"
            "        > /etc/jupyter/$f; done\n");
        strbuf_adds(&df, "\n# What ML tools expect; caches live in the persistent workspace.\n"
                         "ENV PYTHONUNBUFFERED=1 \\\n"
                         "    XDG_CACHE_HOME=/workspace/.cache \\\n"
                         "    PIP_CACHE_DIR=/workspace/.cache/pip \\\n"
                         "    HF_HOME=/workspace/.cache/huggingface \\\n"
                         "    TORCH_HOME=/workspace/.cache/torch \\\n"
                         "    MPLCONFIGDIR=/workspace/.cache/matplotlib\n"
                         "USER ${DS01_UID}:${DS01_GID}\n"
                         "WORKDIR /workspace\n");
        *ret_result = json_pack("{s:s, s:s, s:s}", "dockerfile", strbuf_str(&df), "base", base,
                                "framework", fw);
        strbuf_release(&pip);
        strbuf_release(&apt);
        strbuf_release(&df);
        return 0;
}

bool images_usable_by(const json_t *img, unsigned uid)
{
        const char *owner =
            jstr(json_object_get(json_object_get(img, "Config"), "Labels"), "ds01.user_id");
        unsigned u;
        bool own = owner && sscanf(owner, "%u", &u) == 1 && u == uid;
        if (owner && !own)
                return false;
        size_t i;
        json_t *t;
        json_array_foreach (json_object_get(img, "RepoTags"), i, t) {
                const char *tag = json_string_value(t);
                if (tag && startswith(tag, "docker.io/"))
                        tag += strlen("docker.io/");
                if (tag && sscanf(tag, "ds01-%u/", &u) == 1 && u != uid)
                        return false;
        }
        /* An image nobody named (a build's intermediate layer, a replaced image) says nothing
         * about whose files it holds: only its owner's label makes it usable. A tag or a pulled
         * digest is given by ds01 or an administrator. */
        return own || json_array_size(json_object_get(img, "RepoTags")) > 0 ||
               json_array_size(json_object_get(img, "RepoDigests")) > 0;
}

/* ---- list, delete, disk use ---------------------------------------------------------------- */

/* The bytes uid's images take: the Size of each image in Docker's list (one entry per id)
 * that carries the owner label every build sets. Base layers they share are counted in each:
 * what matters is that one user cannot fill the disk, not an exact count. */
static int64_t user_images_bytes(const json_t *imgs, unsigned uid)
{
        _cleanup_free_ char *uid_s = xasprintf("%u", uid);
        int64_t total = 0;
        size_t i;
        json_t *im;
        json_array_foreach ((json_t *)imgs, i, im) {
                const char *owner = jstr(json_object_get(im, "Labels"), "ds01.user_id");
                if (streq_ptr(owner, uid_s))
                        total += json_integer_value(json_object_get(im, "Size"));
        }
        return total;
}

static json_t *list_images(struct ds01d *d, struct error **err)
{
        json_t *imgs = NULL;
        long status = 0;
        if (docker_request(d->docker, "GET", "/images/json", NULL, &status, &imgs, err) < 0)
                return NULL;
        if (status != 200 || !json_is_array(imgs)) {
                json_decref(imgs);
                error_set(err, DS01_ERR, "listing images failed (HTTP %ld)", status);
                return NULL;
        }
        return imgs;
}

int images_check_disk(struct ds01d *d, const struct caller *c, int64_t max_mb, struct error **err)
{
        if (max_mb <= 0)
                return 0;
        json_t *imgs = list_images(d, err);
        if (!imgs)
                return -1;
        int64_t used = user_images_bytes(imgs, c->uid);
        json_decref(imgs);
        if (used < max_mb << 20)
                return 0;
        return error_set(err, DS01_ERESOURCE,
                         "your images take %.1f MB, at or over the %lld MB this server allows "
                         "you (images.max_images_mb_per_user) - delete some with image-delete "
                         "PROJECT (image-list shows them), then build again",
                         (double)used / (1 << 20), (long long)max_mb);
}

/* "ds01-1000/proj:latest" -> uid 1000, project "proj"; -1 if not a per-user image. */
static int parse_user_image(const char *tag, unsigned *ret_uid, char **ret_project)
{
        unsigned uid;
        int n = 0;
        if (sscanf(tag, "ds01-%u/%n", &uid, &n) != 1 || n == 0)
                return -1;
        const char *p = tag + n, *colon = strrchr(p, ':');
        *ret_uid = uid;
        *ret_project = colon ? xstrndup(p, (size_t)(colon - p)) : xstrdup(p);
        return 0;
}

static json_t *users_of(json_t *containers, const char *image_id)
{
        json_t *a = json_array();
        size_t i;
        json_t *c;
        json_array_foreach (containers, i, c) {
                if (!streq_ptr(jstr(c, "ImageID"), image_id))
                        continue;
                const char *nm = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
                if (nm)
                        json_array_append_new(a, json_string(nm[0] == '/' ? nm + 1 : nm));
        }
        return a;
}

int images_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err)
{
        bool all = json_is_true(json_object_get(params, "all")) && c->admin;
        json_t *imgs = list_images(d, err);
        if (!imgs)
                return -1;
        json_t *containers = docker_container_list(d->docker, NULL, true, err);
        if (!containers) {
                json_decref(imgs);
                return -1;
        }
        json_t *out = json_array();
        size_t i;
        json_t *im;
        json_array_foreach (imgs, i, im) {
                size_t k;
                json_t *tag;
                json_array_foreach (json_object_get(im, "RepoTags"), k, tag) {
                        unsigned uid;
                        char *project = NULL;
                        const char *t = json_string_value(tag);
                        if (!t || parse_user_image(t, &uid, &project) < 0)
                                continue;
                        if (all || uid == c->uid)
                                json_array_append_new(
                                    out,
                                    json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:o}", "image", t,
                                              "project", project, "uid", (json_int_t)uid, "id",
                                              jstr(im, "Id") ? jstr(im, "Id") : "", "size",
                                              json_integer_value(json_object_get(im, "Size")),
                                              "created",
                                              json_integer_value(json_object_get(im, "Created")),
                                              "containers", users_of(containers, jstr(im, "Id"))));
                        free(project);
                }
        }
        int64_t max_mb = d->cfg->max_images_mb_per_user;
        json_t *disk = json_pack("{s:I, s:o}", "used", (json_int_t)user_images_bytes(imgs, c->uid),
                                 "max", max_mb > 0 ? json_integer(max_mb << 20) : json_null());
        json_decref(imgs);
        json_decref(containers);
        *ret_result = json_pack("{s:o, s:o}", "images", out, "disk", disk);
        return 0;
}

int images_delete(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        const char *name = jstr(params, "project");
        bool force = json_is_true(json_object_get(params, "force"));
        _cleanup_free_ char *image = NULL;
        unsigned uid;
        char *project = NULL;
        if (name && parse_user_image(name, &uid, &project) == 0) {
                bool mine = uid == c->uid;
                free(project);
                if (!mine && !c->admin)
                        return error_set(err, DS01_ENOTFOUND,
                                         "no image '%s' of yours - image-list shows yours", name);
                image = strchr(name, ':') ? xstrdup(name) : xasprintf("%s:latest", name);
        } else {
                if (names_check_project(name, err) < 0)
                        return -1;
                image = names_user_image(c->uid, name);
        }
        json_t *im = docker_image_inspect(d->docker, image, NULL);
        if (!im)
                return error_set(err, DS01_ENOTFOUND,
                                 "no image '%s' - image-list shows yours, image-create builds one",
                                 image);
        _cleanup_free_ char *id = xstrdup(jstr(im, "Id") ? jstr(im, "Id") : "");
        json_decref(im);
        json_t *containers = docker_container_list(d->docker, NULL, true, err);
        if (!containers)
                return -1;
        json_t *users = users_of(containers, id);
        json_decref(containers);
        if (json_array_size(users) > 0 && !force) {
                _cleanup_free_ char *list = json_dumps(users, JSON_COMPACT);
                json_decref(users);
                return error_set(err, DS01_ERR,
                                 "%s is used by %s - retire those first (container-retire), or "
                                 "delete anyway with --force",
                                 image, list);
        }
        _cleanup_free_ char *e = docker_query_escape(image);
        _cleanup_free_ char *path = xasprintf("/images/%s?force=%d", e, force ? 1 : 0);
        long status = 0;
        json_t *body = NULL;
        if (docker_request(d->docker, "DELETE", path, NULL, &status, &body, err) < 0) {
                json_decref(users);
                return -1;
        }
        if (status != 200) {
                const char *m = jstr(body, "message");
                error_set(err, status == 404 ? DS01_ENOTFOUND : DS01_ERR, "deleting %s: %s", image,
                          m ? m : "failed");
                json_decref(body);
                json_decref(users);
                return -1;
        }
        json_decref(body);
        events_log(
            d->events, "image.delete", c->login,
            json_pack("{s:s, s:b, s:o}", "image", image, "force", force, "containers", users));
        *ret_result = json_pack("{s:s, s:b}", "image", image, "deleted", 1);
        return 0;
}
