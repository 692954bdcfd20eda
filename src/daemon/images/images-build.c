/* images-build.c - one image build: its checks, Docker's build stream relayed, its result. */
#include "daemon/images/images-internal.h"

#include "shared/log.h"
#include "daemon/images/buildcheck.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/containers/network.h"
#include "shared/names.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/mman.h>

#define TAIL_LINES 15
/* The most kept of one line of build output, of Docker's error, and of a message not parsed
 * yet: the output is the user's, and a line need not end. */
#define LINE_MAX_KEPT 1024
#define MSG_MAX       (1 << 20)

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
        if (images_build_slot_take(c, max_builds, err) < 0)
                goto out;
        slot = true;
        if (images_check_disk(d, c, max_images_mb, err) < 0)
                goto out;
        int sr = images_spool_context(spool_dir, context_fd, client_fd, &lim, &ctx, &ctx_len,
                                      &spooled, err);
        if (sr < 0 || context_dockerfile(ctx, ctx_len, &df, err) < 0 ||
            check_bases(d, c, df, err) < 0)
                goto out;
        /* The image this build replaces: removed afterwards if nothing uses it, so rebuilds do
         * not pile up untagged images. */
        json_t *prev = docker_image_inspect(d->docker, image, NULL);
        old_id = prev && jstr(prev, "Id") ? xstrdup(jstr(prev, "Id")) : NULL;
        json_decref(prev);

        cgroup = images_build_cgroup(d, c->uid, &ls);
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
        images_spool_account(-spooled, 0);
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
        images_spool_account(-spooled, 0);
        if (slot)
                images_build_slot_give(c, cgroup != NULL);
        build_state_release(&b);
        limit_set_release(&ls);
        return r;
}
