/* image-build.c - image-create's and image-update's build (see image-build.h): the project
 * directory as a tar stream that a child process writes into a pipe whose read end travels to
 * ds01d with the image.build request, and the daemon's progress shown as it comes. */
#include "image-build.h"

#include "output.h"
#include "tarball.h"

#include "../proto/proto.h"
#include "../shared/names.h"
#include "../shared/parse.h"
#include "../shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MAX_CONTEXT_MB (1024 * 1024) /* the most DS01_MAX_CONTEXT_MB may ask for */
/* The tar child's exit status when the daemon stopped reading (it then says nothing). */
#define CHILD_READER_GONE 10

static volatile sig_atomic_t build_cancelled;
static volatile int build_sock = -1;
static volatile pid_t build_child = -1;

/* Ctrl-C: hanging up makes the daemon cancel the build; the tar child goes too. Only
 * async-signal-safe calls here. */
static void on_sigint(int sig)
{
        (void)sig;
        build_cancelled = 1;
        if (build_sock >= 0)
                shutdown(build_sock, SHUT_RDWR);
        if (build_child > 0)
                kill(build_child, SIGTERM);
}

struct progress {
        bool json;
        bool colour;
        int context_fd; /* our copy of the pipe's read end, closed once the daemon has it */
        int64_t last_step;
        struct strbuf line; /* a stream line not finished yet */
};

/* "Step 3/7 : RUN ..." -> 3; 0 for other lines. */
static int64_t step_number(const char *line)
{
        if (!startswith(line, "Step "))
                return 0;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(line + 5, &end, 10);
        if (errno != 0 || end == line + 5 || *end != '/' || n <= 0)
                return 0;
        return n;
}

static void emit_line(struct progress *st, const char *line)
{
        int64_t n = step_number(line);
        if (n > 0) {
                if (n == st->last_step) /* ds01's step message said it already */
                        return;
                st->last_step = n;
                printf("%s%s%s\n", st->colour ? OUTPUT_BOLD : "", line,
                       st->colour ? OUTPUT_RESET : "");
        } else if (st->colour &&
                   (startswith(line, " ---> ") || startswith(line, "Removing intermediate"))) {
                printf("\033[2m%s%s\n", line, OUTPUT_RESET);
        } else {
                printf("%s\n", line);
        }
}

static void emit_stream(struct progress *st, const char *text)
{
        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                if (!nl) {
                        strbuf_adds(&st->line, p);
                        if (st->line.len > 64 * 1024) { /* no newline in sight: show it */
                                emit_line(st, st->line.buf);
                                strbuf_reset(&st->line);
                        }
                        return;
                }
                strbuf_add(&st->line, p, (size_t)(nl - p));
                emit_line(st, strbuf_str(&st->line));
                strbuf_reset(&st->line);
                p = nl + 1;
        }
}

static void progress_flush(struct progress *st)
{
        if (st->line.len > 0)
                emit_line(st, st->line.buf);
        strbuf_reset(&st->line);
        fflush(stdout);
}

static int on_progress(void *userdata, const json_t *p)
{
        struct progress *st = userdata;
        if (st->context_fd >= 0) {
                close(st->context_fd);
                st->context_fd = -1;
        }
        if (st->json) {
                json_dumpf(p, stdout, JSON_COMPACT);
                putchar('\n');
                fflush(stdout);
                return 0;
        }
        json_t *step = json_object_get(p, "step");
        const char *stream = cli_jstr(p, "stream", NULL);
        const char *status = cli_jstr(p, "status", NULL);
        if (json_is_integer(step)) {
                progress_flush(st);
                _cleanup_free_ char *line =
                    xasprintf("Step %lld/%lld : %s", (long long)json_integer_value(step),
                              (long long)json_integer_value(json_object_get(p, "steps")),
                              cli_jstr(p, "text", ""));
                emit_line(st, line);
        } else if (stream) {
                emit_stream(st, stream);
        } else if (status) {
                /* Pull progress ("Downloading [==>  ]") repeats many times a second: only the
                 * lines without a running counter are worth a line each. */
                json_t *detail = json_object_get(p, "progressDetail");
                if (json_object_get(detail, "current"))
                        return 0;
                progress_flush(st);
                const char *id = cli_jstr(p, "id", NULL);
                printf("%s%s%s\n", id ? id : "", id ? ": " : "", status);
        }
        /* "aux" (the image id) and "error" (the final answer carries it) are not shown. */
        fflush(stdout);
        return 0;
}

static int64_t context_cap(const struct cli_command *cmd, int *ret_code)
{
        const char *env = getenv("DS01_MAX_CONTEXT_MB");
        int64_t mb = TARBALL_DEFAULT_MAX_BYTES / (1024 * 1024);
        if (env && *env && parse_int64(env, 1, MAX_CONTEXT_MB, &mb) < 0) {
                *ret_code = cli_usage_error(cmd, "DS01_MAX_CONTEXT_MB must be 1..%d, not '%s'",
                                            MAX_CONTEXT_MB, env);
                return -1;
        }
        return mb * 1024 * 1024;
}

int image_build(const struct cli_command *cmd, struct client *c, const char *project,
                const char *dir, bool nocache, bool json)
{
        _cleanup_error_ struct error *err = NULL;
        int code = 0;
        int64_t cap = context_cap(cmd, &code);
        if (cap < 0)
                return code;
        /* Walk once without writing: a context over the cap fails here, before the daemon
         * starts anything. */
        int64_t bytes = 0;
        if (tarball_write(dir, -1, cap, &bytes, &err) < 0)
                return output_error(cmd->name, err);
        if (c->sock < 0 && client_open(c, &err) < 0)
                return output_error(cmd->name, err);

        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                error_set_errno(&err, -errno, "cannot create a pipe");
                return output_error(cmd->name, err);
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
                error_set_errno(&err, -errno, "cannot start the build context writer");
                close(pfd[0]);
                close(pfd[1]);
                return output_error(cmd->name, err);
        }
        if (pid == 0) {
                signal(SIGINT, SIG_DFL);
                close(pfd[0]);
                close(c->sock); /* only the parent may hang up on the daemon */
                struct error *e = NULL;
                if (tarball_write(dir, pfd[1], cap, NULL, &e) == 0)
                        _exit(0);
                struct pollfd pf = {.fd = pfd[1], .events = POLLOUT};
                if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR))
                        _exit(CHILD_READER_GONE); /* the daemon's answer says why */
                fprintf(stderr, "%s: %s\n", cmd->name, e->message);
                _exit(e->code > 0 && e->code <= 5 ? e->code : 1);
        }
        close(pfd[1]);

        build_cancelled = 0;
        build_sock = c->sock;
        build_child = pid;
        struct sigaction sa = {.sa_handler = on_sigint}, old;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);

        struct progress st = {.json = json,
                              .colour = !json && output_colour(),
                              .context_fd = pfd[0],
                              .line = STRBUF_INIT};
        if (!json)
                output_info(json, "Sending the build context of %s (%.1f MB) to ds01d\n", project,
                            (double)bytes / (1024 * 1024));
        json_t *res = NULL, *notices = NULL;
        int r = proto_call_stream(c->sock, "image.build",
                                  json_pack("{s:s, s:b}", "project", project, "nocache", nocache),
                                  pfd[0], on_progress, &st, &res, &notices, &err);
        sigaction(SIGINT, &old, NULL);
        build_sock = -1;
        build_child = -1;
        progress_flush(&st);
        strbuf_release(&st.line);
        if (st.context_fd >= 0)
                close(st.context_fd);
        output_notices(notices);
        json_decref(notices);

        if (build_cancelled) {
                client_close(c);
                kill(pid, SIGTERM);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        int child = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (build_cancelled) {
                json_decref(res);
                fprintf(stderr, "build cancelled\n");
                return 130;
        }
        if (r < 0) {
                if (child >= 1 && child <= 5) /* it said why; the daemon only saw a bad stream */
                        return child;
                return output_error(cmd->name, err);
        }
        if (child != 0) {
                json_decref(res);
                fprintf(stderr,
                        "%s: the build context was not sent completely; run the command again\n",
                        cmd->name);
                return child >= 1 && child <= 5 ? child : 1;
        }
        if (json) {
                json_dumpf(res, stdout, JSON_COMPACT);
                putchar('\n');
        } else {
                _cleanup_free_ char *def = names_user_image((unsigned)getuid(), project);
                const char *id = cli_jstr(res, "id", "?");
                if (startswith(id, "sha256:"))
                        id += 7;
                json_t *secs = json_object_get(res, "seconds");
                printf("Built %s (%.12s, %lld steps, %.1f s). Deploy it with: container-deploy "
                       "%s\n",
                       cli_jstr(res, "image", def), id,
                       (long long)json_integer_value(json_object_get(res, "steps")),
                       json_number_value(secs), project);
        }
        json_decref(res);
        return 0;
}
