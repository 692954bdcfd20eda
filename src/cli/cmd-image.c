/* cmd-image.c - image-create, image-update, image-list and image-delete: a project's environment
 * as the image ds01-<uid>/<project>:latest, built by ds01d from the Dockerfile in the project's
 * workspace (ds01d says where that is: image.project).
 *
 * The CLI runs as the user, so everything that touches the user's files happens here: writing
 * the Dockerfile (from the daemon's template), editing its package blocks, and reading the
 * project directory into the build context, a tar stream that a child process writes into a pipe
 * whose read end travels to the daemon with the image.build request. */
#include "client.h"
#include "cmd.h"
#include "image-build.h"
#include "output.h"
#include "tarball.h"

#include "../proto/proto.h"
#include "../shared/dockerfile.h"
#include "../shared/names.h"
#include "../shared/parse.h"
#include "../shared/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MAX_FILE_BYTES  (1024 * 1024) /* a Dockerfile or requirements file */
#define MAX_PACKAGES    200
#define MAX_PACKAGE_LEN 200
#define PACKAGE_CHARS   "._+=<>!~,@:/-"

/* ---- packages ----------------------------------------------------------------------------- */

/* Splits a --packages/--system value on whitespace into into (an array of strings). Names are
 * limited to characters that mean nothing to a shell, since they end up in RUN lines. */
static int split_packages(const char *text, const char *opt, json_t *into, struct error **err)
{
        const char *p = text;
        for (;;) {
                while (*p && isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        return 0;
                const char *s = p;
                while (*p && !isspace((unsigned char)*p))
                        p++;
                size_t n = (size_t)(p - s);
                if (n > MAX_PACKAGE_LEN)
                        return error_set(err, DS01_EUSAGE, "%s: '%.40s...' is longer than %d bytes",
                                         opt, s, MAX_PACKAGE_LEN);
                for (size_t i = 0; i < n; i++)
                        if (!isalnum((unsigned char)s[i]) && !strchr(PACKAGE_CHARS, s[i]))
                                return error_set(err, DS01_EUSAGE,
                                                 "%s: '%.*s' is not a package name (letters, "
                                                 "digits and %s only)",
                                                 opt, (int)n, s, PACKAGE_CHARS);
                if (s[0] == '-')
                        return error_set(err, DS01_EUSAGE,
                                         "%s: '%.*s' is an option, not a package name", opt, (int)n,
                                         s);
                if (json_array_size(into) >= MAX_PACKAGES)
                        return error_set(err, DS01_EUSAGE, "%s: more than %d packages", opt,
                                         MAX_PACKAGES);
                json_array_append_new(into, json_stringn(s, n));
        }
}

/* The name a package spec is about: "Torch==2.1" and "torch" are the same package; apt pins
 * are "name=version". */
static char *package_key(const char *spec, bool apt)
{
        size_t n = strcspn(spec, apt ? "=" : "=<>!~[;@ ");
        char *k = xstrndup(spec, n);
        for (char *p = k; *p; p++) {
                *p = (char)tolower((unsigned char)*p);
                if (!apt && (*p == '_' || *p == '.'))
                        *p = '-';
        }
        return k;
}

/* ---- files -------------------------------------------------------------------------------- */

static int read_file(const char *path, char **ret, size_t *ret_len, struct error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return error_set_errno(err, -errno, "cannot read %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return error_set(err, DS01_EUSAGE, "%s is not a regular file", path);
        struct strbuf sb = STRBUF_INIT;
        char buf[8192];
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        strbuf_release(&sb);
                        return error_set_errno(err, -errno, "reading %s", path);
                }
                if (k == 0)
                        break;
                strbuf_add(&sb, buf, (size_t)k);
                if (sb.len > MAX_FILE_BYTES) {
                        strbuf_release(&sb);
                        return error_set(err, DS01_EUSAGE, "%s is larger than %d bytes", path,
                                         MAX_FILE_BYTES);
                }
        }
        *ret_len = sb.len;
        *ret = strbuf_detach(&sb);
        return 0;
}

/* Writes dir/name through dir/.name.tmp and a rename, so a reader never sees half a file. */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len,
                        struct error **err)
{
        _cleanup_free_ char *tmp = xasprintf("%s/.%s.tmp", dir, name);
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return error_set_errno(err, -errno, "cannot write %s", tmp);
        int r = write_all(fd, data, len);
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return error_set_errno(err, r, "cannot write %s", path);
        }
        return 0;
}

/* lstat path, as the user: DS01_ENOTFOUND when missing; a symlink is refused, since ds01 never
 * follows one in a workspace. */
static int check_dir(const char *path, struct error **err)
{
        struct stat st;
        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return error_set_errno(err, -errno, "cannot use %s", path);
                return error_set(err, DS01_ENOTFOUND, "%s does not exist", path);
        }
        if (S_ISLNK(st.st_mode))
                return error_set(err, DS01_EPERM,
                                 "%s is a symlink; ds01 does not follow symlinks here - make it "
                                 "a real directory",
                                 path);
        if (!S_ISDIR(st.st_mode))
                return error_set(err, DS01_ERR, "%s is not a directory", path);
        return 0;
}

/* PROJECT's directory, as ds01d says: the site's workspace_root decides where it is
 * (~/workspace/PROJECT or DIR/<user>/PROJECT), and a container of the project mounts the same
 * one. With create, ds01d makes it as a deploy would, and *made says whether this call made it,
 * so a command that fails can take it away again. A framework given is checked against the
 * server's; *ret_frameworks (when not NULL) gets their names. The directory is not looked at:
 * check_dir() does that, as the user. */
static char *project_dir(struct client *c, const char *project, bool create, const char *framework,
                         bool *made, json_t **ret_frameworks, struct error **err)
{
        json_t *params = json_pack("{s:s, s:b}", "project", project, "create", create);
        if (framework)
                json_object_set_new(params, "framework", json_string(framework));
        json_t *res = NULL;
        if (c->sock < 0 && client_open(c, err) < 0) {
                json_decref(params);
                return NULL;
        }
        if (client_call(c, "image.project", params, &res, NULL, err) < 0)
                return NULL;
        const char *dir = cli_jstr(res, "dir", NULL);
        if (!dir || dir[0] != '/') {
                json_decref(res);
                error_set(err, DS01_ERR, "ds01d named no directory for %s", project);
                return NULL;
        }
        char *ret = xstrdup(dir);
        if (made)
                *made = json_is_true(json_object_get(res, "created"));
        if (ret_frameworks)
                *ret_frameworks = json_incref(json_object_get(res, "frameworks"));
        json_decref(res);
        return ret;
}

static bool file_exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/* The path of file relative to dir when it lies inside it (after resolving both), else NULL. */
static char *relative_inside(const char *dir, const char *file, struct error **err)
{
        _cleanup_free_ char *rdir = realpath(dir, NULL);
        _cleanup_free_ char *rfile = realpath(file, NULL);
        if (!rfile) {
                error_set_errno(err, -errno, "cannot use %s", file);
                return NULL;
        }
        if (!rdir) {
                error_set_errno(err, -errno, "cannot use %s", dir);
                return NULL;
        }
        size_t n = strlen(rdir);
        if (strncmp(rfile, rdir, n) == 0 && rfile[n] == '/')
                return xstrdup(rfile + n + 1);
        return xstrdup("");
}

/* Copies src to dir/name unless name already holds the same bytes; a different existing file is
 * replaced only with force. *ret_copied says whether anything was written. */
static int copy_in(const char *src, const char *dir, const char *name, bool force, bool *ret_copied,
                   struct error **err)
{
        _cleanup_free_ char *data = NULL, *old = NULL;
        size_t len = 0, old_len = 0;
        if (read_file(src, &data, &len, err) < 0)
                return -1;
        _cleanup_free_ char *dst = xasprintf("%s/%s", dir, name);
        if (file_exists(dst)) {
                _cleanup_error_ struct error *e = NULL;
                if (read_file(dst, &old, &old_len, &e) == 0 && old_len == len &&
                    memcmp(old, data, len) == 0) {
                        *ret_copied = false;
                        return 0;
                }
                if (!force)
                        return error_set(err, DS01_ERR,
                                         "%s exists and differs from %s; --force replaces it", dst,
                                         src);
        }
        if (write_atomic(dir, name, data, len, err) < 0)
                return -1;
        *ret_copied = true;
        return 0;
}

/* ---- image-create ------------------------------------------------------------------------- */

/* One answer from the terminal; NULL at EOF. */
static char *ask(FILE *tty, const char *question)
{
        fprintf(tty, "%s", question);
        fflush(tty);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, tty);
        if (n < 0) {
                free(line);
                return NULL;
        }
        while (n > 0 && isspace((unsigned char)line[n - 1]))
                line[--n] = '\0';
        return line;
}

/* A project directory this command made is taken back when the command fails before it holds
 * a Dockerfile (rmdir removes only an empty directory: nothing of the user's can go). */
struct made_dir {
        const char *path;
        bool made, keep;
};

static void made_dir_undo(struct made_dir *m)
{
        if (m->made && !m->keep)
                (void)rmdir(m->path);
}

/* Which frameworks a site has is ds01d's to say (images.frameworks in ds01.yaml). */
static bool has_framework(const json_t *frameworks, const char *f)
{
        size_t i;
        json_t *v;
        json_array_foreach (frameworks, i, v)
                if (streq_ptr(json_string_value(v), f))
                        return true;
        return false;
}

/* --guided: asks for what the options did not say. The answers are owned by *ret_*. */
static int guided(const struct cli_command *cmd, const json_t *frameworks, char **ret_framework,
                  json_t *packages, json_t *system_pkgs, bool ask_packages, bool ask_system)
{
        if (!isatty(STDIN_FILENO))
                return cli_usage_error(cmd, "--guided asks questions and needs a terminal");
        int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return cli_usage_error(cmd, "--guided asks questions and needs a terminal");
        FILE *tty = fdopen(fd, "r+");
        if (!tty) {
                close(fd);
                return cli_usage_error(cmd, "--guided asks questions and needs a terminal");
        }
        int r = CLI_CONTINUE;
        struct strbuf q = STRBUF_INIT;
        strbuf_adds(&q, "Framework, one of");
        size_t n;
        json_t *name;
        json_array_foreach (frameworks, n, name)
                strbuf_addf(&q, "%s %s", n ? "," : "", json_string_value(name));
        strbuf_adds(&q, " (minimal): ");
        for (int tries = 0; !*ret_framework; tries++) {
                char *a = ask(tty, strbuf_str(&q));
                if (!a) {
                        r = 1;
                        goto out;
                }
                if (!*a || has_framework(frameworks, a))
                        *ret_framework = *a ? a : (free(a), xstrdup("minimal"));
                else {
                        fprintf(tty, "  this server has no framework '%s'\n", a);
                        free(a);
                        if (tries >= 2) {
                                r = CLI_EXIT_USAGE;
                                goto out;
                        }
                }
        }
        const struct {
                bool want;
                const char *q, *opt;
                json_t *into;
        } qs[] = {
            {ask_packages, "Python packages, separated by spaces (none): ", "packages", packages},
            {ask_system, "System (apt) packages, separated by spaces (none): ", "system",
             system_pkgs},
        };
        for (size_t i = 0; i < ARRAY_SIZE(qs); i++) {
                for (int tries = 0; qs[i].want; tries++) {
                        _cleanup_free_ char *a = ask(tty, qs[i].q);
                        if (!a) {
                                r = 1;
                                goto out;
                        }
                        _cleanup_error_ struct error *e = NULL;
                        json_array_clear(qs[i].into);
                        if (split_packages(a, qs[i].opt, qs[i].into, &e) == 0)
                                break;
                        fprintf(tty, "  %s\n", e->message);
                        if (tries >= 2) {
                                r = CLI_EXIT_USAGE;
                                goto out;
                        }
                }
        }
out:
        strbuf_release(&q);
        fclose(tty);
        return r;
}

int cmd_image_create(const struct cli_command *cmd, int argc, char **argv)
{
        const char *framework = NULL, *packages = NULL, *system_arg = NULL, *requirements = NULL,
                   *dockerfile = NULL;
        bool no_build = false, no_cache = false, force = false, guide = false, json = false;
        const struct cli_option opts[] = {
            {"framework", 0, CLI_OPT_VALUE, &framework, NULL},
            {"packages", 0, CLI_OPT_VALUE, &packages, NULL},
            {"system", 0, CLI_OPT_VALUE, &system_arg, NULL},
            {"requirements", 'r', CLI_OPT_VALUE, &requirements, NULL},
            {"dockerfile", 0, CLI_OPT_VALUE, &dockerfile, NULL},
            {"no-build", 0, CLI_OPT_FLAG, &no_build, NULL},
            {"no-cache", 0, CLI_OPT_FLAG, &no_cache, NULL},
            {"force", 'f', CLI_OPT_FLAG, &force, NULL},
            {"guided", 0, CLI_OPT_FLAG, &guide, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 1);
        if (r != CLI_CONTINUE)
                return r;
        if (a.rest)
                return cli_usage_error(cmd, "unexpected '--'");
        const char *project = a.pos[0];
        _cleanup_error_ struct error *err = NULL;
        if (names_check_project(project, &err) < 0)
                return cli_usage_error(cmd, "%s", err->message);
        if (framework && !*framework)
                return cli_usage_error(cmd, "--framework needs a name");
        bool template_opts = framework || packages || system_arg || requirements || guide;
        if (dockerfile && template_opts)
                return cli_usage_error(cmd, "--dockerfile brings its own Dockerfile: it does not "
                                            "go with --framework, --packages, --system, "
                                            "--requirements or --guided");
        if (dockerfile && !*dockerfile)
                return cli_usage_error(cmd, "--dockerfile needs a path");
        if (requirements && !*requirements)
                return cli_usage_error(cmd, "--requirements needs a path");
        json_t *pkgs = json_array(), *sys = json_array();
        json_t *params = json_pack("{s:s, s:o, s:o}", "project", project, "packages", pkgs,
                                   "system", sys); /* owns pkgs and sys */
        if ((packages && split_packages(packages, "--packages", pkgs, &err) < 0) ||
            (system_arg && split_packages(system_arg, "--system", sys, &err) < 0)) {
                json_decref(params);
                return cli_usage_error(cmd, "%s", err->message);
        }
        _cleanup_free_ char *fw = framework ? xstrdup(framework) : NULL;

        bool made = false;
        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_(json_decrefp) json_t *frameworks = NULL;
        _cleanup_free_ char *dir = project_dir(&c, project, true, fw, &made, &frameworks, &err);
        if (!dir) {
                json_decref(params);
                return output_error(cmd->name, err);
        }
        _cleanup_(made_dir_undo) struct made_dir undo = {dir, made, false};
        if (check_dir(dir, &err) < 0) {
                json_decref(params);
                return output_error(cmd->name, err);
        }
        _cleanup_free_ char *df_path = xasprintf("%s/Dockerfile", dir);
        bool have = file_exists(df_path);

        if (dockerfile) {
                json_decref(params);
                bool copied = false;
                if (copy_in(dockerfile, dir, "Dockerfile", force, &copied, &err) < 0)
                        return output_error(cmd->name, err);
                undo.keep = true;
                if (copied)
                        output_info(json, "Copied %s to %s\n", dockerfile, df_path);
        } else if (have && !force) {
                json_decref(params);
                if (template_opts) {
                        fprintf(stderr,
                                "%s: %s exists already; add packages to it with image-update %s "
                                "--add '...' (or --add-system), or regenerate it with --force "
                                "(your edits are lost)\n",
                                cmd->name, df_path, project);
                        return 1;
                }
                output_info(json, "Using your existing Dockerfile (--force regenerates it)\n");
        } else {
                if (guide && (r = guided(cmd, frameworks, &fw, pkgs, sys, !packages,
                                         !system_arg)) != CLI_CONTINUE) {
                        json_decref(params);
                        return r;
                }
                if (fw)
                        json_object_set_new(params, "framework", json_string(fw));
                if (requirements) {
                        _cleanup_free_ char *rel = relative_inside(dir, requirements, &err);
                        if (!rel) {
                                json_decref(params);
                                return output_error(cmd->name, err);
                        }
                        if (!*rel) {
                                bool copied = false;
                                if (copy_in(requirements, dir, "requirements.txt", force, &copied,
                                            &err) < 0) {
                                        json_decref(params);
                                        return output_error(cmd->name, err);
                                }
                                output_info(json,
                                            "Copied %s to %s/requirements.txt (the build sees only "
                                            "the project directory)\n",
                                            requirements, dir);
                                free(rel);
                                rel = xstrdup("requirements.txt");
                        }
                        json_object_set_new(params, "requirements", json_string(rel));
                }
                json_t *res = NULL;
                if (client_call(&c, "image.template", params, &res, NULL, &err) < 0)
                        return output_error(cmd->name, err);
                const char *text = cli_jstr(res, "dockerfile", NULL);
                if (!text) {
                        json_decref(res);
                        fprintf(stderr, "%s: the daemon sent no Dockerfile\n", cmd->name);
                        return 1;
                }
                if (write_atomic(dir, "Dockerfile", text, strlen(text), &err) < 0) {
                        json_decref(res);
                        return output_error(cmd->name, err);
                }
                undo.keep = true;
                output_info(json, "Wrote %s (%s, from %s)\n", df_path,
                            cli_jstr(res, "framework", fw ? fw : "minimal"),
                            cli_jstr(res, "base", "?"));
                json_decref(res);
        }

        if (no_build) {
                if (json) {
                        json_t *doc =
                            json_pack("{s:s, s:s}", "project", project, "dockerfile", df_path);
                        output_json(doc);
                        json_decref(doc);
                } else
                        printf("Build it with: image-create %s\n", project);
                return 0;
        }
        return image_build(cmd, &c, project, dir, no_cache, json);
}

/* ---- image-update ------------------------------------------------------------------------- */

struct block {
        const char *begin, *end; /* marker prefixes */
        const char *run, *tail;  /* the RUN line's fixed parts (tail may be NULL) */
        bool apt;
        const char *what; /* "python packages" */
};

static const char *skip_blank(const char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        return s;
}

/* The line [s, e) without surrounding whitespace, as a new string. */
static char *trimmed(const char *s, const char *e)
{
        s = skip_blank(s);
        while (e > s && isspace((unsigned char)e[-1]))
                e--;
        return xstrndup(s, (size_t)(e - s));
}

/* Merges add into the block's one RUN line of *text (replacing *text). *ret_changed counts the
 * packages added or re-pinned. */
static int edit_block(char **text, const struct block *b, const json_t *add, const char *path,
                      const char *project, size_t *ret_changed, struct error **err)
{
        const char *t = *text;
        const char *bstart = NULL, *estart = NULL;
        for (const char *l = t; *l;) {
                const char *nl = strchr(l, '\n');
                const char *next = nl ? nl + 1 : l + strlen(l);
                if (!bstart && startswith(skip_blank(l), b->begin))
                        bstart = next;
                else if (bstart && startswith(skip_blank(l), b->end)) {
                        estart = l;
                        break;
                }
                l = next;
        }
        if (!bstart || !estart)
                return error_set(err, DS01_ERR,
                                 "%s has no marked %s block ('%s ...' to '%s'): add the two "
                                 "marker lines, or regenerate it with image-create %s --force",
                                 path, b->what, b->begin, b->end, project);
        /* The block: blank and comment lines, and at most one RUN line of the known form. */
        const char *run_s = NULL, *run_e = NULL;
        for (const char *l = bstart; l < estart;) {
                const char *nl = memchr(l, '\n', (size_t)(estart - l));
                const char *next = nl ? nl + 1 : estart;
                _cleanup_free_ char *line = trimmed(l, next);
                if (*line && line[0] != '#') {
                        size_t n = strlen(line), tl = b->tail ? strlen(b->tail) : 0;
                        bool ok = !run_s && startswith(line, b->run) &&
                                  (line[strlen(b->run)] == ' ' || line[strlen(b->run)] == '\0') &&
                                  (!b->tail || (n >= tl && streq(line + n - tl, b->tail)));
                        if (!ok)
                                return error_set(err, DS01_ERR,
                                                 "the %s block of %s has a line image-update "
                                                 "does not understand: '%s'; edit it by hand, or "
                                                 "regenerate the Dockerfile with image-create %s "
                                                 "--force",
                                                 b->what, path, line, project);
                        run_s = l;
                        run_e = next;
                }
                l = next;
        }
        /* The packages already there. */
        json_t *words = json_array();
        if (run_s) {
                _cleanup_free_ char *line = trimmed(run_s, run_e);
                size_t n = strlen(line);
                if (b->tail)
                        line[n - strlen(b->tail)] = '\0';
                /* Specs with shell characters are single-quoted ('scipy<2'); a package name
                 * has no quote of its own. */
                char *o = line;
                for (const char *q = line; *q; q++)
                        if (*q != '\'')
                                *o++ = *q;
                *o = '\0';
                _cleanup_error_ struct error *e = NULL;
                if (split_packages(line + strlen(b->run), b->what, words, &e) < 0) {
                        json_decref(words);
                        return error_set(err, DS01_ERR, "the %s block of %s: %s", b->what, path,
                                         e->message);
                }
        }
        size_t changed = 0, i;
        json_t *w;
        json_array_foreach (add, i, w) {
                const char *spec = json_string_value(w);
                _cleanup_free_ char *key = package_key(spec, b->apt);
                bool found = false;
                for (size_t j = 0; j < json_array_size(words) && !found; j++) {
                        const char *have = json_string_value(json_array_get(words, j));
                        _cleanup_free_ char *hk = package_key(have, b->apt);
                        if (!streq(hk, key))
                                continue;
                        found = true;
                        if (!streq(have, spec)) { /* a new pin replaces the old one */
                                json_array_set_new(words, j, json_string(spec));
                                changed++;
                        }
                }
                if (!found) {
                        json_array_append_new(words, json_string(spec));
                        changed++;
                }
        }
        if (changed > 0) {
                struct strbuf sb = STRBUF_INIT;
                const char *cut_s = run_s ? run_s : estart, *cut_e = run_s ? run_e : estart;
                strbuf_add(&sb, t, (size_t)(cut_s - t));
                strbuf_adds(&sb, b->run);
                json_array_foreach (words, i, w) {
                        strbuf_addc(&sb, ' ');
                        strbuf_add_shell_word(&sb, json_string_value(w));
                }
                if (b->tail)
                        strbuf_addf(&sb, " %s", b->tail);
                strbuf_addc(&sb, '\n');
                strbuf_adds(&sb, cut_e);
                free(*text);
                *text = strbuf_detach(&sb);
        }
        json_decref(words);
        *ret_changed = changed;
        return 0;
}

int cmd_image_update(const struct cli_command *cmd, int argc, char **argv)
{
        const char *add = NULL, *add_system = NULL;
        bool rebuild = false, no_cache = false, json = false;
        const struct cli_option opts[] = {
            {"add", 0, CLI_OPT_VALUE, &add, NULL},
            {"add-system", 0, CLI_OPT_VALUE, &add_system, NULL},
            {"rebuild", 0, CLI_OPT_FLAG, &rebuild, NULL},
            {"no-cache", 0, CLI_OPT_FLAG, &no_cache, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 1);
        if (r != CLI_CONTINUE)
                return r;
        if (a.rest)
                return cli_usage_error(cmd, "unexpected '--'");
        const char *project = a.pos[0];
        _cleanup_error_ struct error *err = NULL;
        if (names_check_project(project, &err) < 0)
                return cli_usage_error(cmd, "%s", err->message);
        if (!add && !add_system && !rebuild)
                return cli_usage_error(cmd, "nothing to do: give --add, --add-system or --rebuild");
        json_t *pip = json_array(), *apt = json_array();
        if ((add && split_packages(add, "--add", pip, &err) < 0) ||
            (add_system && split_packages(add_system, "--add-system", apt, &err) < 0)) {
                json_decref(pip);
                json_decref(apt);
                return cli_usage_error(cmd, "%s", err->message);
        }
        if ((add && json_array_size(pip) == 0) || (add_system && json_array_size(apt) == 0)) {
                json_decref(pip);
                json_decref(apt);
                return cli_usage_error(cmd, "--add and --add-system need package names");
        }

        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_free_ char *dir = project_dir(&c, project, false, NULL, NULL, NULL, &err);
        int dr = dir ? check_dir(dir, &err) : -1;
        _cleanup_free_ char *path = dir ? xasprintf("%s/Dockerfile", dir) : NULL;
        if ((dir && dr < 0 && err->code == DS01_ENOTFOUND) || (dr == 0 && !file_exists(path))) {
                json_decref(pip);
                json_decref(apt);
                fprintf(stderr, "%s: no Dockerfile for %s - run image-create %s first\n", cmd->name,
                        project, project);
                return DS01_ENOTFOUND;
        }
        if (dr < 0) {
                json_decref(pip);
                json_decref(apt);
                return output_error(cmd->name, err);
        }
        _cleanup_free_ char *text = NULL;
        size_t len = 0, n_pip = 0, n_apt = 0;
        static const struct block py = {
            DOCKERFILE_PY_BEGIN, DOCKERFILE_PY_END, DOCKERFILE_PIP_RUN, NULL, false,
            "python packages"};
        static const struct block sy = {
            DOCKERFILE_SYS_BEGIN, DOCKERFILE_SYS_END, DOCKERFILE_APT_RUN, DOCKERFILE_APT_TAIL, true,
            "system packages"};
        r = read_file(path, &text, &len, &err);
        if (r == 0 && memchr(text, '\0', len))
                r = error_set(&err, DS01_ERR, "%s is not a text file", path);
        if (r == 0 && add)
                r = edit_block(&text, &py, pip, path, project, &n_pip, &err);
        if (r == 0 && add_system)
                r = edit_block(&text, &sy, apt, path, project, &n_apt, &err);
        json_decref(pip);
        json_decref(apt);
        if (r < 0)
                return output_error(cmd->name, err);
        if (n_pip + n_apt > 0) {
                if (write_atomic(dir, "Dockerfile", text, strlen(text), &err) < 0)
                        return output_error(cmd->name, err);
                output_info(json,
                            "Updated %s: %zu Python package%s and %zu system package%s added or "
                            "re-pinned\n",
                            path, n_pip, n_pip == 1 ? "" : "s", n_apt, n_apt == 1 ? "" : "s");
        } else if (!rebuild) {
                output_info(json,
                            "Nothing changed: the packages are in %s already (--rebuild rebuilds "
                            "anyway)\n",
                            path);
                return 0;
        }
        return image_build(cmd, &c, project, dir, no_cache, json);
}

/* ---- image-list, image-delete ------------------------------------------------------------- */

/* "1.2G", "350M", "12K", "512B". */
static char *format_size(int64_t bytes, char buf[static 16])
{
        static const char units[] = "BKMGTP";
        double v = (double)(bytes < 0 ? 0 : bytes);
        size_t u = 0;
        while (v >= 1024 && u < sizeof(units) - 2) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, 16, "%lldB", (long long)bytes);
        else
                snprintf(buf, 16, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
        return buf;
}

int cmd_image_list(const struct cli_command *cmd, int argc, char **argv)
{
        bool all = false, json = false;
        const struct cli_option opts[] = {
            {"all", 'a', CLI_OPT_FLAG, &all, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "image.list", json_pack("{s:b}", "all", all), &res, NULL);
        if (r != 0)
                return r;
        if (json) {
                output_json(res);
                json_decref(res);
                return 0;
        }
        const json_t *list = json_object_get(res, "images");
        if (json_array_size(list) == 0) {
                printf("No images. Build one with: image-create PROJECT\n");
                json_decref(res);
                return 0;
        }
        static const char *const headers[] = {"IMAGE", "SIZE", "CREATED", "USED BY"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        int64_t now = now_s();
        size_t i;
        json_t *img;
        json_array_foreach (list, i, img) {
                char size[16], age[48] = "-", d[32];
                format_size(json_integer_value(json_object_get(img, "size")), size);
                int64_t created = cli_jtime(img, "created");
                if (created > 0)
                        snprintf(age, sizeof(age), "%s ago",
                                 format_duration(now > created ? now - created : 0, d));
                struct strbuf used = STRBUF_INIT;
                size_t j;
                json_t *name;
                json_array_foreach (json_object_get(img, "containers"), j, name) {
                        if (!json_is_string(name))
                                continue;
                        strbuf_addf(&used, "%s%s", used.len ? ", " : "", json_string_value(name));
                }
                const char *cells[] = {cli_jstr(img, "image", "?"), size, age,
                                       used.len ? used.buf : "-"};
                table_add_row(t, cells);
                strbuf_release(&used);
        }
        table_print(t, stdout, output_colour());
        /* The total a build is refused at (images.max_images_mb_per_user), older daemons none. */
        const json_t *disk = json_object_get(res, "disk");
        if (disk) {
                char used[16], max[16];
                format_size(json_integer_value(json_object_get(disk, "used")), used);
                const json_t *m = json_object_get(disk, "max");
                if (json_is_integer(m))
                        printf("\nYour images take %s of the %s this server allows you "
                               "(image-delete PROJECT frees room).\n",
                               used, format_size(json_integer_value(m), max));
                else
                        printf("\nYour images take %s.\n", used);
        }
        json_decref(res);
        return 0;
}

int cmd_image_delete(const struct cli_command *cmd, int argc, char **argv)
{
        bool force = false, json = false;
        const struct cli_option opts[] = {
            {"force", 'f', CLI_OPT_FLAG, &force, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 1);
        if (r != CLI_CONTINUE)
                return r;
        const char *project = a.pos[0];
        /* Administrators may name another user's image in full (ds01-<uid>/<project>:latest). */
        bool full = strchr(project, '/') != NULL;
        _cleanup_error_ struct error *err = NULL;
        if (full && (!startswith(project, "ds01-") || strlen(project) > 255))
                return cli_usage_error(cmd,
                                       "'%s' is not a ds01 image: give a project name or "
                                       "ds01-<uid>/<project>:latest",
                                       project);
        if (!full && names_check_project(project, &err) < 0)
                return cli_usage_error(cmd, "%s", err->message);
        json_t *res = NULL;
        _cleanup_client_ struct client c = CLIENT_INIT;
        if (client_open(&c, &err) < 0 ||
            client_call(&c, "image.delete",
                        json_pack("{s:s, s:b}", "project", project, "force", force), &res, NULL,
                        &err) < 0)
                return output_error(cmd->name, err);
        if (json)
                output_json(res);
        else if (full)
                printf("Deleted %s\n", cli_jstr(res, "image", project));
        else {
                _cleanup_free_ char *def = names_user_image((unsigned)getuid(), project);
                _cleanup_error_ struct error *e = NULL;
                _cleanup_free_ char *dir = project_dir(&c, project, false, NULL, NULL, NULL, &e);
                if (dir)
                        printf("Deleted %s; %s/Dockerfile is kept\n", cli_jstr(res, "image", def),
                               dir);
                else
                        printf("Deleted %s\n", cli_jstr(res, "image", def));
        }
        json_decref(res);
        return 0;
}
