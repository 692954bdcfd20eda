/* cmd-jupyter.c - ds01 jupyter: Jupyter in a container, reachable from the user's laptop in one
 * command. It publishes the port (container.port), starts Jupyter in the background inside with
 * a fresh token (a session like container-run's), waits until it answers through the published
 * socket - the path the user's browser takes - and prints the laptop's ssh line and the URL
 * with the token. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define JUPYTER_DEFAULT_PORT "8888"
#define JUPYTER_WAIT_S       90 /* a first start builds its caches: it can take a while */

/* Run in the container as `sh -c SCRIPT sh PORT TOKEN`: Jupyter Lab where it is installed, else
 * the classic Notebook, detached from the session (setsid, nohup) so it outlives it, its output
 * in a log under /tmp. The token reaches it in JUPYTER_TOKEN, never on its command line. */
static const char start_script[] =
    "port=$1\n"
    "if command -v jupyter-lab >/dev/null 2>&1; then app=lab\n"
    "elif command -v jupyter-notebook >/dev/null 2>&1; then app=notebook\n"
    "else echo 'Jupyter is not installed in this container (no jupyter-lab or jupyter-notebook "
    "on its PATH): add it to the project image (image-update PROJECT --add jupyterlab), then "
    "retire the container and deploy it again' >&2; exit 3; fi\n"
    "log=/tmp/ds01-jupyter-$port.log\n"
    "JUPYTER_TOKEN=$2 setsid nohup jupyter $app --no-browser --ip=0.0.0.0 --port=$port "
    "--port-retries=0 >\"$log\" 2>&1 </dev/null &\n"
    "pid=$!\n"
    "sleep 1\n"
    "kill -0 $pid 2>/dev/null || { echo \"Jupyter stopped at once; the end of $log:\" >&2; "
    "tail -n 20 \"$log\" >&2; exit 1; }\n";

/* Whether an HTTP server answers GET /api with 200 through the published socket. */
static bool answers(const char *socket_path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return false;
        strcpy(sa.sun_path, socket_path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return false;
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        static const char req[] = "GET /api HTTP/1.0\r\nHost: localhost\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
                return false;
        char head[16] = "";
        size_t got = 0;
        while (got < sizeof(head) - 1) {
                ssize_t k = read(fd, head + got, sizeof(head) - 1 - got);
                if (k <= 0)
                        break;
                got += (size_t)k;
        }
        head[got] = '\0';
        return strncmp(head, "HTTP/1.", 7) == 0 && strncmp(head + 8, " 200", 4) == 0;
}

/* The published port `port` of container name (added when it is not published yet, and then
 * *added is set): a new reference to its element of container.port's "ports", or NULL after
 * printing why. */
static json_t *published(const struct cli_command *cmd, const char *name, int port, bool *added,
                         int *ret_rc)
{
        *added = false;
        for (int pass = 0; pass < 2; pass++) {
                json_t *params =
                    json_pack("{s:s, s:s}", "name", name, "action", pass ? "add" : "list");
                if (pass)
                        json_object_set_new(params, "port", json_sprintf("%d", port));
                json_t *res = NULL;
                *ret_rc = client_oneshot(cmd->name, "container.port", params, &res, NULL);
                if (*ret_rc != 0)
                        return NULL;
                size_t i;
                json_t *p;
                json_array_foreach (json_object_get(res, "ports"), i, p) {
                        if (json_integer_value(json_object_get(p, "port")) == port) {
                                *added = pass == 1;
                                json_incref(p);
                                json_decref(res);
                                return p;
                        }
                }
                json_decref(res);
        }
        fprintf(stderr, "%s: port %d of '%s' was not published\n", cmd->name, port, name);
        *ret_rc = 1;
        return NULL;
}

static int start_jupyter(const struct cli_command *cmd, const char *name, int port,
                         const char *token)
{
        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_error_ struct error *err = NULL;
        if (client_open(&c, &err) < 0)
                return output_error(cmd->name, err);
        char port_s[16];
        snprintf(port_s, sizeof(port_s), "%d", port);
        char *argv[] = {"sh", "-c", (char *)start_script, "sh", port_s, (char *)token};
        return session_run(cmd, &c, name, argv, ARRAY_SIZE(argv), true, false);
}

int cmd_jupyter(const struct cli_command *cmd, int argc, char **argv)
{
        const char *port_arg = JUPYTER_DEFAULT_PORT;
        const struct cli_option opts[] = {
            {"port", 'p', CLI_OPT_VALUE, &port_arg, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_name(cmd, argc, argv, opts, &a);
        if (r != CLI_CONTINUE)
                return r;
        const char *name = a.pos[0];
        _cleanup_error_ struct error *err = NULL;
        int port;
        if (names_parse_port(port_arg, &port, &err) < 0)
                return cli_usage_error(cmd, "--port: %s", err->message);

        bool added;
        json_t *p = published(cmd, name, port, &added, &r);
        if (!p)
                return r;
        const char *sock = cli_jstr(p, "socket", "");
        if (answers(sock)) {
                printf("Something already answers on port %d of '%s' (a Jupyter started before?). "
                       "Its address and token: container-run %s -- jupyter server list (or "
                       "jupyter notebook list)\n",
                       port, name, name);
                print_port_access(p, NULL);
                json_decref(p);
                return 0;
        }

        unsigned char raw[24];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
                json_decref(p);
                fprintf(stderr, "%s: cannot make a token: %s\n", cmd->name, strerror(errno));
                return 1;
        }
        char token[2 * sizeof(raw) + 1];
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(token + 2 * i, 3, "%02x", raw[i]);

        r = start_jupyter(cmd, name, port, token);
        for (int i = 0; r == 0 && !answers(sock); i++) {
                if (i >= JUPYTER_WAIT_S * 2) {
                        fprintf(stderr,
                                "%s: Jupyter did not answer on port %d within %d s; its log: "
                                "container-run %s -- cat /tmp/ds01-jupyter-%d.log\n",
                                cmd->name, port, JUPYTER_WAIT_S, name, port);
                        r = 1;
                        break;
                }
                nanosleep(&(struct timespec){.tv_nsec = 500 * 1000 * 1000}, NULL);
        }
        if (r == 0) {
                printf("Jupyter runs in '%s' on port %d (its log: /tmp/ds01-jupyter-%d.log in the "
                       "container; it stops with the container, or with: container-run %s -- "
                       "pkill -f 'jupyter.*--port=%d').\n",
                       name, port, port, name, port);
                _cleanup_free_ char *path = xasprintf("/?token=%s", token);
                print_port_access(p, path);
        } else if (added) {
                /* nothing half-done: the port this command published goes again */
                json_t *params = json_pack("{s:s, s:s, s:o}", "name", name, "action", "remove",
                                           "port", json_sprintf("%d", port));
                json_t *res = NULL;
                if (client_oneshot(cmd->name, "container.port", params, &res, NULL) == 0)
                        json_decref(res);
        }
        json_decref(p);
        return r;
}
