#include "daemon/images/images.h"

#include "shared/log.h"
#include "daemon/images/buildcheck.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/containers/network.h"
#include "daemon/containers/workspace.h"
#include "shared/names.h"
#include "shared/strbuf.h"
#include "shared/dockerfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define TAIL_LINES 15
/* The most kept of one line of build output, of Docker's error, and of a message not parsed
 * yet: the output is the user's, and a line need not end. */
#define LINE_MAX_KEPT   1024
#define MSG_MAX         (1 << 20)
#define SPOOL_TIMEOUT_S 600
#define SPOOL_IDLE_S    30
#define PKG_MAX         200

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

/* Every image a Dockerfile reads (FROM, COPY --from, RUN --mount from=) must be usable by the
 * builder: a user may not base an image on someone else's. The names are those Docker may
 * resolve (buildcheck.h); a name that resolves to nothing here is pulled or fails. A base's
 * ONBUILD triggers run in this build: they are checked the same way (one level: a trigger
 * cannot be FROM, so what it reads runs no triggers). */
static int check_bases_depth(struct ds01d *d, const struct caller *c, const char *df, int depth,
                             struct error **err)
{
        char **refs = NULL;
        if (buildcheck_dockerfile(df, &refs, err) < 0)
                return -1;
        int r = 0;
        for (size_t i = 0; refs[i] && r == 0 && !c->admin; i++) {
                const char *ref = refs[i];
                const char *name = startswith(ref, "docker.io/") ? ref + strlen("docker.io/") : ref;
                unsigned owner;
                if (streq(ref, "scratch"))
                        continue;
                if (sscanf(name, "ds01-%u/", &owner) == 1 && owner != c->uid) {
                        r = error_set(err, DS01_EPERM,
                                      "the Dockerfile builds on '%.80s', which belongs to another "
                                      "user - build on your own images or a shared one",
                                      ref);
                        break;
                }
                json_t *img = docker_image_inspect(d->docker, ref, NULL);
                if (img && !images_usable_by(img, c->uid))
                        r = error_set(err, DS01_EPERM,
                                      "the Dockerfile builds on '%.80s', which belongs to another "
                                      "user or to nobody ds01 knows (an unnamed layer) - build "
                                      "on your own images or a shared one",
                                      ref);
                json_t *onbuild = json_object_get(json_object_get(img, "Config"), "OnBuild");
                if (r == 0 && depth == 0 && json_array_size(onbuild) > 0) {
                        struct strbuf t = STRBUF_INIT;
                        size_t k;
                        json_t *v;
                        json_array_foreach (onbuild, k, v)
                                if (json_is_string(v))
                                        strbuf_addf(&t, "%s\n", json_string_value(v));
                        r = check_bases_depth(d, c, strbuf_str(&t), depth + 1, err);
                        strbuf_release(&t);
                }
                json_decref(img);
        }
        buildcheck_refs_free(refs);
        return r;
}

static int check_bases(struct ds01d *d, const struct caller *c, const char *df, struct error **err)
{
        return check_bases_depth(d, c, df, 0, err);
}

/* ---- build ---------------------------------------------------------------------------------- */

/* Builds in flight per uid, and the bytes of context spooled by all of them: a user builds
 * images.max_builds_per_user at a time, and spooled contexts stay under images.max_spool_mb
 * together (in images.spool_dir, by default the state directory, beside the ledger). */
static pthread_mutex_t builds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct build_slot {
        uid_t uid;
        int n;
} builds[64];
static int64_t spooled_total;

static int build_slot_take(const struct caller *c, int64_t max, struct error **err)
{
        pthread_mutex_lock(&builds_lock);
        struct build_slot *s = NULL, *free_s = NULL;
        for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
                if (builds[i].n > 0 && builds[i].uid == c->uid)
                        s = &builds[i];
                else if (builds[i].n == 0 && !free_s)
                        free_s = &builds[i];
        }
        int r = 0;
        if (s && s->n >= max)
                r = error_set(err, DS01_ERESOURCE,
                              "you have %d image build(s) running already "
                              "(images.max_builds_per_user: %lld) - wait for it to finish, or "
                              "cancel it with Ctrl-C",
                              s->n, (long long)max);
        else if (!s && !free_s)
                r = error_set(err, DS01_ERESOURCE,
                              "too many image builds are running on this server - try again in "
                              "a few minutes");
        else {
                if (!s) {
                        s = free_s;
                        s->uid = c->uid;
                }
                s->n++;
        }
        pthread_mutex_unlock(&builds_lock);
        return r;
}

int images_builds_running(unsigned uid)
{
        int n = 0;
        pthread_mutex_lock(&builds_lock);
        for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++)
                if (builds[i].n > 0 && builds[i].uid == uid)
                        n = builds[i].n;
        pthread_mutex_unlock(&builds_lock);
        return n;
}

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

/* A build is refused while the user's images take max_mb or more (0: no limit), so one user
 * cannot fill the disk Docker shares with the ledger. */
static int check_images_disk(struct ds01d *d, const struct caller *c, int64_t max_mb,
                             struct error **err)
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

static void build_cgroup_remove(uid_t uid);

/* The user's last build gone, their build cgroup goes too: under the lock, so a build that
 * took a slot meanwhile (and made the cgroup again) keeps it. */
static void build_slot_give(const struct caller *c, bool cgroup)
{
        pthread_mutex_lock(&builds_lock);
        for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++)
                if (builds[i].n > 0 && builds[i].uid == c->uid) {
                        if (--builds[i].n == 0 && cgroup)
                                build_cgroup_remove(c->uid);
                        break;
                }
        pthread_mutex_unlock(&builds_lock);
}

/* Accounts k more spooled bytes against the total (k < 0 gives back); false when that would
 * pass max. */
static bool spool_account(int64_t k, int64_t max)
{
        pthread_mutex_lock(&builds_lock);
        bool ok = k <= 0 || spooled_total + k <= max;
        if (ok)
                spooled_total += k;
        pthread_mutex_unlock(&builds_lock);
        return ok;
}

/* Free space a spool leaves to others on its file system (the ledger's, by default): counted
 * as unprivileged writers see it, so root's writes never eat the blocks reserved for root. */
#define SPOOL_RESERVE (512LL << 20)

static bool spool_room(int fd, int64_t more)
{
        struct statvfs sv;
        if (fstatvfs(fd, &sv) < 0)
                return true;
        return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize >= more + SPOOL_RESERVE;
}

struct spool_limits {
        int64_t max;       /* bytes of one context */
        int64_t max_total; /* bytes of all spooled contexts */
};

static int spool_fail(struct error **err, const char *why)
{
        return error_set(err, DS01_EUSAGE, "the build context was not received: %s", why);
}

/* Reads the context from the CLI's pipe into an unnamed root-only file (so its size is known and
 * bounded before Docker sees it). The upload ends within SPOOL_TIMEOUT_S, stalls at most
 * SPOOL_IDLE_S, and stops as soon as the client hangs up. *ret_accounted: the bytes added to
 * spooled_total (the caller gives them back). */
static int spool_context(const char *dir, int in, int client_fd, const struct spool_limits *lim,
                         int *ret_fd, int64_t *ret_len, int64_t *ret_accounted, struct error **err)
{
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return error_set_errno(err, errno, "spooling the build context in %s", dir);
        char *buf = xmalloc(64 * 1024);
        int64_t len = 0, t_end = mono_ms() + SPOOL_TIMEOUT_S * 1000, t_idle = 0;
        int r = 0;
        for (;;) {
                int64_t now = mono_ms();
                if (t_idle == 0)
                        t_idle = now + SPOOL_IDLE_S * 1000;
                if (now >= t_end || now >= t_idle) {
                        r = spool_fail(err, now >= t_end ? "it took longer than the time allowed"
                                                         : "nothing arrived for too long");
                        break;
                }
                int64_t left = (t_end < t_idle ? t_end : t_idle) - now;
                struct pollfd pfd[2] = {{in, POLLIN, 0}, {client_fd, POLLIN | POLLRDHUP, 0}};
                int pr = poll(pfd, client_fd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int)left);
                if (pr < 0 && errno != EINTR) {
                        r = error_set_errno(err, errno, "reading the build context");
                        break;
                }
                if (client_fd >= 0 && pr > 0 &&
                    (pfd[1].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR))) {
                        r = spool_fail(err, "the client went away");
                        break;
                }
                if (pr <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                ssize_t k = read(in, buf, 64 * 1024);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0) {
                        r = error_set_errno(err, errno, "reading the build context");
                        break;
                }
                if (k == 0)
                        break;
                t_idle = 0;
                len += k;
                if (len > lim->max) {
                        r = error_set(err, DS01_EUSAGE,
                                      "the build context is larger than %lld MB "
                                      "(images.max_context_mb) - list what the image does not "
                                      "need (data, checkpoints) in .dockerignore",
                                      (long long)(lim->max >> 20));
                        break;
                }
                if (!spool_account(k, lim->max_total)) {
                        r = error_set(err, DS01_ERESOURCE,
                                      "the build contexts being received take all the room "
                                      "this server gives them (images.max_spool_mb) - try again "
                                      "in a few minutes");
                        break;
                }
                *ret_accounted += k;
                if (((len - k) >> 24) != (len >> 24) && !spool_room(fd, 16LL << 20)) {
                        r = error_set(err, DS01_ERESOURCE,
                                      "the disk that holds ds01's state is nearly full, so the "
                                      "build context was not kept - tell an administrator");
                        break;
                }
                if (write_all(fd, buf, (size_t)k) < 0) {
                        r = error_set_errno(err, errno, "spooling the build context");
                        break;
                }
        }
        free(buf);
        if (r == 0 && len == 0)
                r = error_set(err, DS01_EUSAGE, "the build context is empty");
        if (r < 0 || lseek(fd, 0, SEEK_SET) < 0) {
                close(fd);
                return r < 0 ? -1 : error_set_errno(err, errno, "rewinding the build context");
        }
        *ret_fd = fd;
        *ret_len = len;
        return 0;
}

/* The one Dockerfile of the spooled context, checked (buildcheck.h). */
static int context_dockerfile(int fd, int64_t len, char **ret, struct error **err)
{
        void *m = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
                return error_set_errno(err, errno, "reading the build context");
        int r = buildcheck_context(m, (size_t)len, ret, err);
        munmap(m, (size_t)len);
        return r;
}

struct build_state {
        int step, steps;
        char *step_text;
        char *tail[TAIL_LINES];
        size_t n_tail, tail_pos;
        char *error;
        char *image_id;
        struct strbuf partial; /* a stream line not ended yet */
};

/* Docker colours a step's stderr ("\033[91m...\033[0m"): drop escape sequences. */
static char *strip_ansi(const char *in)
{
        char *out = xmalloc(strlen(in) + 1), *o = out;
        for (const char *p = in; *p; p++) {
                if (*p == '\033' && p[1] == '[') {
                        p += 2;
                        while (*p && !(*p >= '@' && *p <= '~'))
                                p++;
                        if (!*p)
                                break;
                        continue;
                }
                *o++ = *p;
        }
        *o = '\0';
        return out;
}

static void tail_add(struct build_state *b, const char *raw)
{
        _cleanup_free_ char *line = strip_ansi(raw);
        /* Docker's own bookkeeping lines are not the step's output. */
        if (!*line || startswith(line, " ---> ") || startswith(line, "Removing intermediate") ||
            startswith(line, "Sending build context"))
                return;
        free(b->tail[b->tail_pos]);
        b->tail[b->tail_pos] = xstrdup(line);
        b->tail_pos = (b->tail_pos + 1) % TAIL_LINES;
        if (b->n_tail < TAIL_LINES)
                b->n_tail++;
}

/* What the output of a failed step says about the network: pip and apt print these when they
 * cannot reach their index or mirror (builds here often have no way out). NULL when none. */
static const char *build_hint(const struct build_state *b)
{
        static const char *const unreachable[] = {
            "No matching distribution found",
            "Failed to establish a new connection",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "Could not resolve",
            "Temporary failure resolving",
        };
        for (size_t i = 0; i < b->n_tail; i++)
                for (size_t k = 0; k < ARRAY_SIZE(unreachable); k++)
                        if (b->tail[i] && strstr(b->tail[i], unreachable[k]))
                                return "the step could not reach its package index or mirror: "
                                       "this server's builds may have no access to it - ask an "
                                       "administrator for the local mirror to use (pip's "
                                       "--index-url, apt's sources), or copy the packages into "
                                       "the project and install them from there (pip install "
                                       "--no-index --find-links DIR)";
        return NULL;
}

/* One whole line of a step's output: a step marker, or output for the tail. */
static int stream_line(struct build_state *b, const char *line, images_progress_fn progress,
                       void *pctx)
{
        int n, m, k = 0;
        if (sscanf(line, "Step %d/%d : %n", &n, &m, &k) == 2 && k > 0) {
                b->step = n;
                b->steps = m;
                free(b->step_text);
                b->step_text = xstrdup(line + k);
                b->n_tail = b->tail_pos = 0;
                return progress(
                    pctx, json_pack("{s:i, s:i, s:s}", "step", n, "steps", m, "text", line + k));
        }
        tail_add(b, line);
        return 0;
}

/* One of Docker's messages: note steps, output, errors; forward it and any step marker. */
static int build_message(struct build_state *b, json_t *msg, images_progress_fn progress,
                         void *pctx)
{
        const char *stream = jstr(msg, "stream");
        const char *error = jstr(msg, "error");
        json_t *aux = json_object_get(msg, "aux");
        if (jstr(aux, "ID")) {
                free(b->image_id);
                b->image_id = xstrndup(jstr(aux, "ID"), LINE_MAX_KEPT);
        }
        if (error) {
                free(b->error);
                b->error = xstrndup(error, LINE_MAX_KEPT);
        }
        int r = progress(pctx, json_incref(msg));
        /* Of a line that does not end, only its first LINE_MAX_KEPT bytes are kept. */
        for (const char *p = stream; p && *p;) {
                size_t n = strcspn(p, "\n");
                size_t room = b->partial.len < LINE_MAX_KEPT ? LINE_MAX_KEPT - b->partial.len : 0;
                strbuf_add(&b->partial, p, n < room ? n : room);
                p += n;
                if (*p != '\n')
                        break;
                p++;
                int lr = stream_line(b, strbuf_str(&b->partial), progress, pctx);
                if (r == 0)
                        r = lr;
                strbuf_reset(&b->partial);
        }
        return r;
}

static void build_state_release(struct build_state *b)
{
        free(b->step_text);
        for (size_t i = 0; i < TAIL_LINES; i++)
                free(b->tail[i]);
        free(b->error);
        free(b->image_id);
        strbuf_release(&b->partial);
}

/* ---- build cgroups ---------------------------------------------------------------------- */

/* Docker's /build takes no pids limit: a build's containers are put under a cgroup of the
 * user's own, ds01-builds/u<uid>, whose pids.max is the group's pids_limit (a fork bomb in a
 * RUN step stops there). Docker creates the containers' cgroups below it with the cgroupfs
 * driver; with the systemd driver the parent would have to be a slice, and builds get no pids
 * limit (logged). Returns the cgroupparent for the query, or NULL. */
static bool cg_write(const char *path, const char *value)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        bool ok = write_all(fd, value, strlen(value)) == 0;
        close(fd);
        return ok;
}

/* A cancelled build's containers may outlive it (Docker removes them after the connection
 * closes), and so its cgroup: the cgroups of users with no build in flight go now. Called with
 * builds_lock held. */
static void build_cgroup_sweep(const char *top)
{
        DIR *dir = opendir(top);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
                unsigned uid;
                char end;
                if (sscanf(e->d_name, "u%u%c", &uid, &end) != 1)
                        continue;
                bool busy = false;
                for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++)
                        busy |= builds[i].n > 0 && builds[i].uid == uid;
                if (!busy)
                        build_cgroup_remove(uid);
        }
        if (dir)
                closedir(dir);
}

static char *build_cgroup(struct ds01d *d, uid_t uid, const struct limit_set *ls)
{
        if (ls->pids_limit <= 0)
                return NULL;
        json_t *info = NULL;
        long st = 0;
        if (docker_request(d->docker, "GET", "/info", NULL, &st, &info, NULL) < 0 || st != 200 ||
            !streq_ptr(jstr(info, "CgroupDriver"), "cgroupfs")) {
                log_warning("image builds get no pids limit: Docker's cgroup driver is not "
                            "cgroupfs");
                json_decref(info);
                return NULL;
        }
        json_decref(info);
        _cleanup_free_ char *max = xasprintf("%lld", (long long)ls->pids_limit);
        bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        const char *root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/pids";
        _cleanup_free_ char *top = xasprintf("%s/ds01-builds", root);
        _cleanup_free_ char *mine = xasprintf("%s/u%u", top, (unsigned)uid);
        if (v2)
                cg_write("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
        pthread_mutex_lock(&builds_lock); /* against build_slot_give's removal */
        build_cgroup_sweep(top);
        (void)mkdir(top, 0755);
        if (v2) {
                _cleanup_free_ char *sc = xasprintf("%s/cgroup.subtree_control", top);
                cg_write(sc, "+pids");
        }
        (void)mkdir(mine, 0755);
        _cleanup_free_ char *pm = xasprintf("%s/pids.max", mine);
        bool ok = cg_write(pm, max);
        pthread_mutex_unlock(&builds_lock);
        if (!ok) {
                log_warning("image builds get no pids limit: cannot write %s: %m", pm);
                return NULL;
        }
        return xasprintf("/ds01-builds/u%u", (unsigned)uid);
}

/* Removes the user's build cgroup once their builds are done (a busy one stays: rmdir fails),
 * in every v1 hierarchy Docker made it in. */
static void build_cgroup_remove(uid_t uid)
{
        DIR *dir = opendir("/sys/fs/cgroup");
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *p =
                    xasprintf("/sys/fs/cgroup/%s/ds01-builds/u%u", e->d_name, (unsigned)uid);
                (void)rmdir(p);
        }
        if (dir)
                closedir(dir);
        _cleanup_free_ char *v2 = xasprintf("/sys/fs/cgroup/ds01-builds/u%u", (unsigned)uid);
        (void)rmdir(v2);
}

/* The /build query: tag, build arguments (the user), labels, and the group's limits, which
 * apply to every RUN step. */
static char *build_query(const struct caller *c, const struct limit_set *ls, const char *project,
                         const char *image, bool nocache, const char *cgroup)
{
        struct passwd pw, *pwr = NULL;
        char pwbuf[4096];
        const char *home = getpwuid_r(c->uid, &pw, pwbuf, sizeof(pwbuf), &pwr) == 0 && pwr
                               ? pw.pw_dir
                               : "/workspace";
        _cleanup_free_ char *uid_s = xasprintf("%u", (unsigned)c->uid);
        _cleanup_free_ char *gid_s = xasprintf("%u", (unsigned)c->gid);
        json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "DS01_UID", uid_s, "DS01_GID", gid_s,
                                 "DS01_USER", c->user_part, "DS01_HOME", home);
        /* The only ds01.* labels an image has (a Dockerfile may set none: buildcheck.h). The
         * owner is what matters (images_usable_by). */
        json_t *labels = json_pack("{s:s, s:s}", "ds01.user_id", uid_s, "ds01.project", project);
        _cleanup_free_ char *args_s = json_dumps(args, JSON_COMPACT);
        _cleanup_free_ char *labels_s = json_dumps(labels, JSON_COMPACT);
        json_decref(args);
        json_decref(labels);
        _cleanup_free_ char *t_e = docker_query_escape(image);
        _cleanup_free_ char *a_e = docker_query_escape(args_s);
        _cleanup_free_ char *l_e = docker_query_escape(labels_s);
        struct strbuf q = STRBUF_INIT;
        strbuf_addf(&q,
                    "t=%s&dockerfile=Dockerfile&rm=1&forcerm=1&pull=0&nocache=%d&buildargs=%s"
                    "&labels=%s",
                    t_e, nocache ? 1 : 0, a_e, l_e);
        if (ls->memory > 0)
                strbuf_addf(&q, "&memory=%lld&memswap=%lld", (long long)ls->memory,
                            (long long)(ls->memory_swap >= ls->memory ? ls->memory_swap : -1));
        if (ls->max_cpus > 0)
                strbuf_addf(&q, "&cpuperiod=100000&cpuquota=%lld",
                            (long long)llround(ls->max_cpus * 100000));
        if (ls->shm_size > 0)
                strbuf_addf(&q, "&shmsize=%lld", (long long)ls->shm_size);
        if (cgroup) {
                _cleanup_free_ char *cg_e = docker_query_escape(cgroup);
                strbuf_addf(&q, "&cgroupparent=%s", cg_e);
        }
        return strbuf_detach(&q);
}

int images_build(struct ds01d *d, const struct caller *c, json_t *params, int context_fd,
                 int client_fd, images_progress_fn progress, void *progress_ctx,
                 json_t **ret_result, struct error **err)
{
        const char *project = jstr(params, "project");
        bool nocache = json_is_true(json_object_get(params, "nocache"));
        if (names_check_project(project, err) < 0)
                return -1;
        if (context_fd < 0)
                return error_set(err, DS01_EUSAGE, "image.build needs the build context");
        _cleanup_free_ char *image = names_user_image(c->uid, project);
        int64_t t0 = mono_ms();

        /* d is this request's view (generation.h): a reload during the build does not wait for
         * it, and the build goes on with the configuration it started with. */
        struct limit_set ls;
        limits_resolve(d->limits, c->login, c->gids, c->n_gids, &ls);
        _cleanup_free_ char *spool_dir =
            xstrdup(d->cfg->spool_dir ? d->cfg->spool_dir : d->cfg->state_dir);
        struct spool_limits lim = {d->cfg->max_context_mb << 20, d->cfg->max_spool_mb << 20};
        int64_t timeout_s = d->cfg->build_timeout_s;
        int64_t max_builds = d->cfg->max_builds_per_user;
        int64_t max_images_mb = d->cfg->max_images_mb_per_user;
        _cleanup_close_ int ctx = -1, stream = -1;
        _cleanup_free_ char *query = NULL, *old_id = NULL, *df = NULL, *net = NULL, *cgroup = NULL;
        int64_t ctx_len = 0, spooled = 0;
        int r = -1;
        bool slot = false;
        struct build_state b = {0};
        if (build_slot_take(c, max_builds, err) < 0)
                goto out;
        slot = true;
        if (check_images_disk(d, c, max_images_mb, err) < 0)
                goto out;
        int sr =
            spool_context(spool_dir, context_fd, client_fd, &lim, &ctx, &ctx_len, &spooled, err);
        if (sr < 0 || context_dockerfile(ctx, ctx_len, &df, err) < 0 ||
            check_bases(d, c, df, err) < 0)
                goto out;
        /* The image this build replaces: removed afterwards if nothing uses it, so rebuilds do
         * not pile up untagged images. */
        json_t *prev = docker_image_inspect(d->docker, image, NULL);
        old_id = prev && jstr(prev, "Id") ? xstrdup(jstr(prev, "Id")) : NULL;
        json_decref(prev);

        cgroup = build_cgroup(d, c->uid, &ls);
        /* RUN steps on the user's build network (network.h), not beside anyone's containers. */
        int nr = network_acquire(d->net, d->cfg, c->uid, NETWORK_BUILDS, &net, err);
        if (nr < 0)
                goto out;
        char *q = build_query(c, &ls, project, image, nocache, cgroup),
             *net_e = docker_query_escape(net);
        query = xasprintf("%s&networkmode=%s", q, net_e);
        free(q);
        free(net_e);
        int dr = docker_build_stream(d->docker, query, ctx, ctx_len, &stream, err);
        /* Docker has the context now: the spool goes. */
        close(TAKE_FD(ctx));
        spool_account(-spooled, 0);
        spooled = 0;
        if (dr < 0)
                goto out;
        log_info("building %s for %s (%lld bytes of context)", image, c->login, (long long)ctx_len);

        /* Relay Docker's messages until EOF, the client leaving, or the timeout. */
        int64_t deadline = mono_ms() + timeout_s * 1000;
        struct strbuf buf = STRBUF_INIT;
        bool cancelled = false, timed_out = false;
        char chunk[16384];
        for (;;) {
                int64_t left = deadline - mono_ms();
                if (left <= 0) {
                        timed_out = true;
                        break;
                }
                struct pollfd pfd[2] = {{stream, POLLIN, 0}, {client_fd, POLLIN | POLLRDHUP, 0}};
                int pr = poll(pfd, client_fd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int)left);
                if (pr < 0 && errno != EINTR)
                        break;
                if (client_fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR))) {
                        cancelled = true;
                        break;
                }
                if (!(pfd[0].revents & (POLLIN | POLLHUP)))
                        continue;
                ssize_t k = read(stream, chunk, sizeof(chunk));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                strbuf_add(&buf, chunk, (size_t)k);
                /* Parse every complete JSON message in the buffer. */
                size_t off = 0;
                while (off < buf.len) {
                        while (off < buf.len && strchr(" \t\r\n", buf.buf[off]))
                                off++;
                        if (off >= buf.len)
                                break;
                        json_error_t je;
                        json_t *msg =
                            json_loadb(buf.buf + off, buf.len - off, JSON_DISABLE_EOF_CHECK, &je);
                        if (!msg)
                                break; /* incomplete: wait for more */
                        off += je.position;
                        if (build_message(&b, msg, progress, progress_ctx) != 0)
                                cancelled = true;
                        json_decref(msg);
                        if (cancelled)
                                break;
                }
                memmove(buf.buf, buf.buf + off, buf.len - off);
                buf.len -= off;
                buf.buf[buf.len] = '\0';
                if (buf.len > MSG_MAX) { /* Docker splits output: not one of its messages */
                        free(b.error);
                        b.error = xstrdup("Docker sent a message ds01 could not read");
                        break;
                }
                if (cancelled)
                        break;
        }
        strbuf_release(&buf);
        double secs = (double)(mono_ms() - t0) / 1000.0;
        if (cancelled || timed_out) {
                /* Closing Docker's connection cancels the build. */
                close(TAKE_FD(stream));
                error_set(err, DS01_ERR,
                          timed_out ? "the build of %s took longer than %lld s "
                                      "(images.build_timeout_s) and was cancelled"
                                    : "the build of %s was cancelled",
                          image, (long long)timeout_s);
                events_log(d->events, "image.build", c->login,
                           json_pack("{s:s, s:s, s:f}", "image", image, "result",
                                     timed_out ? "timeout" : "cancelled", "seconds", secs));
                goto out;
        }
        if (b.error || !b.image_id) {
                struct strbuf m = STRBUF_INIT;
                if (b.step)
                        strbuf_addf(&m, "the build of %s failed at step %d/%d (%s): %s", image,
                                    b.step, b.steps, b.step_text ? b.step_text : "?",
                                    b.error ? b.error : "no image was produced");
                else
                        strbuf_addf(&m, "the build of %s failed: %s", image,
                                    b.error ? b.error : "no image was produced");
                if (b.n_tail) {
                        strbuf_adds(&m, "\nlast output:");
                        size_t start = (b.tail_pos + TAIL_LINES - b.n_tail) % TAIL_LINES;
                        for (size_t i = 0; i < b.n_tail; i++)
                                strbuf_addf(&m, "\n  %s", b.tail[(start + i) % TAIL_LINES]);
                }
                const char *hint = build_hint(&b);
                if (hint)
                        strbuf_addf(&m, "\nhint: %s", hint);
                error_set(err, DS01_ERR, "%s", strbuf_str(&m));
                strbuf_release(&m);
                events_log(d->events, "image.build", c->login,
                           json_pack("{s:s, s:s, s:i, s:f}", "image", image, "result", "failed",
                                     "step", b.step, "seconds", secs));
                goto out;
        }
        events_log(d->events, "image.build", c->login,
                   json_pack("{s:s, s:s, s:s, s:i, s:f}", "image", image, "result", "ok", "id",
                             b.image_id, "steps", b.steps, "seconds", secs));
        log_info("built %s for %s in %.1f s", image, c->login, secs);
        if (old_id && !streq(old_id, b.image_id)) {
                _cleanup_free_ char *e = docker_query_escape(old_id);
                _cleanup_free_ char *path = xasprintf("/images/%s", e);
                long st = 0;
                json_t *body = NULL;
                docker_request(d->docker, "DELETE", path, NULL, &st, &body, NULL);
                json_decref(body); /* refused while a container uses it: fine */
        }
        *ret_result = json_pack("{s:s, s:s, s:i, s:f}", "image", image, "id", b.image_id, "steps",
                                b.steps, "seconds", secs);
        r = 0;
out:
        network_release(d->net, net);
        spool_account(-spooled, 0);
        if (slot)
                build_slot_give(c, cgroup != NULL);
        build_state_release(&b);
        limit_set_release(&ls);
        return r;
}

/* ---- list and delete ---------------------------------------------------------------------- */

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
