/* cmd-session.c - container-run, container-attach and deploy --open: an exec inside the
 * container whose raw stream the daemon hands over as a file descriptor. This side pumps bytes
 * between the terminal (or pipes) and that stream, forwards window-size changes, and finally
 * asks the daemon for the command's exit code, all on the one connection that created the exec. */
#include "client.h"
#include "cluster.h"
#include "cmd.h"
#include "output.h"

#include "../shared/stream.h"
#include "../shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#define EXEC_STATUS_WAIT_MS 2000
#define EXEC_STATUS_STEP_MS 20
#define PUMP_BUF            (64 * 1024)

/* The terminal as we found it; restored at exit, on fatal signals and after the session. */
static struct termios saved_termios;
static volatile sig_atomic_t raw_mode_on;
static int winch_pipe[2] = {-1, -1};

static void restore_terminal(void)
{
        if (raw_mode_on) {
                tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
                raw_mode_on = 0;
        }
}

static void on_fatal_signal(int sig)
{
        /* tcsetattr, signal and raise are async-signal-safe. */
        restore_terminal();
        signal(sig, SIG_DFL);
        raise(sig);
}

static void on_winch(int sig)
{
        (void)sig;
        int saved = errno;
        char c = 'w';
        (void)!write(winch_pipe[1], &c, 1);
        errno = saved;
}

static int enter_raw_mode(struct error **err)
{
        if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
                return error_set_errno(err, errno, "reading the terminal settings");
        struct termios raw = saved_termios;
        cfmakeraw(&raw);
        static bool atexit_done;
        if (!atexit_done) {
                atexit(restore_terminal);
                atexit_done = true;
        }
        const int fatal[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};
        for (size_t i = 0; i < ARRAY_SIZE(fatal); i++) {
                struct sigaction sa = {.sa_handler = on_fatal_signal};
                sigemptyset(&sa.sa_mask);
                sigaction(fatal[i], &sa, NULL);
        }
        raw_mode_on = 1;
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0) {
                raw_mode_on = 0;
                return error_set_errno(err, errno, "switching the terminal to raw mode");
        }
        return 0;
}

static int setup_winch(struct error **err)
{
        if (winch_pipe[0] < 0 && pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return error_set_errno(err, errno, "creating a pipe");
        struct sigaction sa = {.sa_handler = on_winch, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGWINCH, &sa, NULL);
        return 0;
}

static bool window_size(unsigned *ret_rows, unsigned *ret_cols)
{
        struct winsize ws;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
                return false;
        *ret_rows = ws.ws_row;
        *ret_cols = ws.ws_col;
        return true;
}

static int send_resize(struct client *c, const char *exec_id, struct error **err)
{
        unsigned rows, cols;
        if (!window_size(&rows, &cols))
                return 0;
        json_t *res = NULL;
        if (client_call(c, "container.resize",
                        json_pack("{s:s, s:i, s:i}", "exec_id", exec_id, "rows", (int)rows, "cols",
                                  (int)cols),
                        &res, NULL, err) < 0)
                return -1;
        json_decref(res);
        return 0;
}

/* Output of the stream; a failed write (EPIPE: the reader went away) is remembered. */
struct sink {
        int error; /* negative errno of the first failed write */
        /* by fd (1 stdout, 2 stderr): shown through term_filter (container-logs to a terminal) */
        bool filter[3];
        struct term_filter f[3];
};

static void sink_write(struct sink *s, int fd, const char *data, size_t n)
{
        if (s->error)
                return;
        struct strbuf sb = STRBUF_INIT;
        if (s->filter[fd]) {
                term_filter(&s->f[fd], data, n, &sb);
                data = sb.buf;
                n = sb.len;
        }
        int r = n ? write_all(fd, data, n) : 0;
        strbuf_release(&sb);
        if (r < 0)
                s->error = r;
}

/* What the filters still hold, at the end of the stream. */
static void sink_end(struct sink *s)
{
        for (int fd = 1; fd <= 2; fd++)
                if (s->filter[fd]) {
                        struct strbuf sb = STRBUF_INIT;
                        term_filter_end(&s->f[fd], &sb);
                        s->filter[fd] = false;
                        sink_write(s, fd, sb.buf ? sb.buf : "", sb.len);
                        strbuf_release(&sb);
                }
}

static void demux_out(void *userdata, int stream, const char *data, size_t n)
{
        sink_write(userdata, stream == 2 || stream == 3 ? STDERR_FILENO : STDOUT_FILENO, data, n);
}

int session_copy_stream(int fd, bool demux, bool raw, struct error **err)
{
        _cleanup_free_ char *buf = xmalloc(PUMP_BUF);
        struct demux dm;
        struct sink sink = {0};
        for (int k = 1; k <= 2; k++) {
                sink.filter[k] = !raw && isatty(k);
                sink.f[k] = (struct term_filter)TERM_FILTER_INIT;
        }
        demux_init(&dm);
        fflush(stdout);
        for (;;) {
                ssize_t k = read(fd, buf, PUMP_BUF);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd p = {.fd = fd, .events = POLLIN};
                                poll(&p, 1, -1);
                                continue;
                        }
                        return error_set_errno(err, errno, "reading the container's output");
                }
                if (k == 0) {
                        sink_end(&sink);
                        return 0;
                }
                if (!demux)
                        sink_write(&sink, STDOUT_FILENO, buf, (size_t)k);
                else if (demux_feed(&dm, buf, (size_t)k, demux_out, &sink) < 0)
                        return error_set(err, DS01_ERR, "malformed output stream from Docker");
                if (sink.error == -EPIPE)
                        return 0;
                if (sink.error)
                        return error_set_errno(err, sink.error, "writing the output");
        }
}

struct pump {
        int fd;
        bool tty;
        bool stdin_open;
        struct demux dm;
        struct sink sink;
        char *in;      /* stdin bytes not yet written to the stream */
        size_t in_len; /* bytes in `in` */
        size_t in_off; /* bytes of `in` already written */
        char *out;
};

static void stdin_done(struct pump *p)
{
        p->stdin_open = false;
        p->in_len = p->in_off = 0;
        /* Without a TTY the command sees EOF on its stdin; with one, a closed terminal is
         * no reason to end the session early. */
        if (!p->tty)
                shutdown(p->fd, SHUT_WR);
}

/* Moves bytes until the stream ends. Returns 0, or -1 with err set. */
static int pump_run(struct pump *p, struct client *c, const char *exec_id, struct error **err)
{
        for (;;) {
                struct pollfd pfd[3];
                nfds_t n = 0;
                int i_stdin = -1, i_winch = -1;
                pfd[n++] = (struct pollfd){
                    .fd = p->fd, .events = POLLIN | (p->in_off < p->in_len ? POLLOUT : 0)};
                if (p->stdin_open && p->in_off == p->in_len) {
                        i_stdin = (int)n;
                        pfd[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
                }
                if (p->tty && winch_pipe[0] >= 0) {
                        i_winch = (int)n;
                        pfd[n++] = (struct pollfd){.fd = winch_pipe[0], .events = POLLIN};
                }
                if (poll(pfd, n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return error_set_errno(err, errno, "waiting for the session");
                }

                if (i_winch >= 0 && pfd[i_winch].revents) {
                        char drain[64];
                        while (read(winch_pipe[0], drain, sizeof(drain)) > 0)
                                ;
                        if (send_resize(c, exec_id, err) < 0)
                                return -1;
                }

                if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t k = read(p->fd, p->out, PUMP_BUF);
                        if (k == 0)
                                return 0;
                        if (k < 0 && errno != EINTR && errno != EAGAIN) {
                                if (errno == ECONNRESET)
                                        return 0;
                                return error_set_errno(err, errno, "reading the session");
                        }
                        if (k > 0) {
                                if (p->tty)
                                        sink_write(&p->sink, STDOUT_FILENO, p->out, (size_t)k);
                                else if (demux_feed(&p->dm, p->out, (size_t)k, demux_out,
                                                    &p->sink) < 0)
                                        return error_set(err, DS01_ERR,
                                                         "malformed output stream from Docker");
                                if (p->sink.error)
                                        return 0; /* our reader went away; the caller knows */
                        }
                }

                if (pfd[0].revents & POLLOUT && p->in_off < p->in_len) {
                        ssize_t k = write(p->fd, p->in + p->in_off, p->in_len - p->in_off);
                        if (k > 0) {
                                p->in_off += (size_t)k;
                                if (p->in_off == p->in_len)
                                        p->in_off = p->in_len = 0;
                        } else if (k < 0 && errno != EINTR && errno != EAGAIN) {
                                /* The command closed its stdin; keep reading its output. */
                                p->stdin_open = false;
                                p->in_off = p->in_len = 0;
                        }
                }

                if (i_stdin >= 0 && pfd[i_stdin].revents) {
                        if (pfd[i_stdin].revents & POLLNVAL) {
                                stdin_done(p);
                                continue;
                        }
                        ssize_t k = read(STDIN_FILENO, p->in, PUMP_BUF);
                        if (k > 0) {
                                p->in_len = (size_t)k;
                                p->in_off = 0;
                        } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                                stdin_done(p);
                        }
                }
        }
}

/* Waits for the exec to finish and returns its exit code (0..255). */
static int wait_exit_code(const struct cli_command *cmd, struct client *c, const char *exec_id)
{
        _cleanup_error_ struct error *err = NULL;
        for (int waited = 0;; waited += EXEC_STATUS_STEP_MS) {
                json_t *res = NULL;
                if (client_call(c, "container.exec_status", json_pack("{s:s}", "exec_id", exec_id),
                                &res, NULL, &err) < 0)
                        return output_error(cmd->name, err);
                bool running = cli_jbool(res, "running");
                json_t *code = json_object_get(res, "exit_code");
                json_int_t v = json_is_integer(code) ? json_integer_value(code) : 0;
                json_decref(res);
                if (!running)
                        return v >= 0 && v <= 255 ? (int)v : 1;
                if (waited >= EXEC_STATUS_WAIT_MS) {
                        fprintf(stderr, "note: the session's stream ended but the command is "
                                        "still running in the container\n");
                        return 0;
                }
                usleep(EXEC_STATUS_STEP_MS * 1000);
        }
}

int session_run(const struct cli_command *cmd, struct client *c, const char *name,
                char *const *cmd_argv, size_t n_cmd, bool start, bool tty_ok)
{
        _cleanup_error_ struct error *err = NULL;
        bool tty = tty_ok && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        json_t *params = json_pack("{s:s, s:b, s:b}", "name", name, "tty", tty, "start", start);
        unsigned rows, cols;
        const char *term = getenv("TERM");
        if (tty && term && *term && strlen(term) <= 64)
                json_object_set_new(params, "term", json_string(term));
        if (tty && window_size(&rows, &cols)) {
                json_object_set_new(params, "rows", json_integer(rows));
                json_object_set_new(params, "cols", json_integer(cols));
        }
        if (cmd_argv) {
                json_t *words = json_array();
                for (size_t i = 0; i < n_cmd; i++)
                        json_array_append_new(words, json_string(cmd_argv[i]));
                json_object_set_new(params, "cmd", words);
        }
        json_t *res = NULL;
        _cleanup_close_ int fd = -1;
        if (client_call(c, "container.exec", params, &res, &fd, &err) < 0)
                return output_error(cmd->name, err);
        _cleanup_free_ char *exec_id = xstrdup(cli_jstr(res, "exec_id", ""));
        json_decref(res);
        if (fd < 0 || !*exec_id) {
                fprintf(stderr, "%s: the daemon answered without a session stream\n", cmd->name);
                return 1;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fflush(stdout);

        _cleanup_free_ char *in = xmalloc(PUMP_BUF);
        _cleanup_free_ char *out = xmalloc(PUMP_BUF);
        struct pump p = {.fd = fd, .tty = tty, .stdin_open = true, .in = in, .out = out};
        demux_init(&p.dm);
        int r = 0;
        if (tty) {
                r = setup_winch(&err);
                if (r == 0)
                        r = enter_raw_mode(&err);
                /* The exec exists now: give it the window size it must draw for. */
                if (r == 0)
                        r = send_resize(c, exec_id, &err);
        }
        if (r == 0)
                r = pump_run(&p, c, exec_id, &err);
        restore_terminal();
        if (tty)
                signal(SIGWINCH, SIG_DFL);
        if (r < 0)
                return output_error(cmd->name, err);
        if (p.sink.error == -EPIPE)
                return 128 + SIGPIPE; /* as a shell reports a pipeline cut short */
        if (p.sink.error) {
                error_set_errno(&err, p.sink.error, "writing the output");
                return output_error(cmd->name, err);
        }
        return wait_exit_code(cmd, c, exec_id);
}

static int run_or_attach(const struct cli_command *cmd, int argc, char **argv, bool start)
{
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_name(cmd, argc, argv, NULL, &a);
        if (r == CLI_CONTINUE && a.rest && a.n_rest == 0)
                r = cli_usage_error(cmd, "no command after '--'");
        /* a container on another node of the cluster: the session through srun --pty */
        if (r == CLI_CONTINUE)
                r = cluster_route(cmd, a.pos[0], argc, argv, true);
        if (r != CLI_CONTINUE)
                return r;

        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_error_ struct error *err = NULL;
        if (client_open(&c, &err) < 0)
                return output_error(cmd->name, err);
        return session_run(cmd, &c, a.pos[0], a.rest, a.n_rest, start, true);
}

int cmd_run(const struct cli_command *cmd, int argc, char **argv)
{
        return run_or_attach(cmd, argc, argv, true);
}

int cmd_attach(const struct cli_command *cmd, int argc, char **argv)
{
        return run_or_attach(cmd, argc, argv, false);
}
