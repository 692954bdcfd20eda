/* cmd-port.c - container-port: publish a service in a container (Jupyter, TensorBoard) to its
 * owner alone, and say how to reach it from a laptop. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../shared/names.h"

#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

/* The name users give ssh for this server: its host name. */
static void server_name(char *buf, size_t len)
{
        if (gethostname(buf, len) < 0 || !*buf)
                snprintf(buf, len, "SERVER");
        buf[len - 1] = '\0';
}

void print_port_access(const json_t *p, const char *path)
{
        char host[256];
        server_name(host, sizeof(host));
        struct passwd *pw = getpwuid(getuid());
        const char *me = pw ? pw->pw_name : "USER";
        int port = (int)json_integer_value(json_object_get(p, "port"));
        const char *sock = cli_jstr(p, "socket", "?");
        printf("  port %d: only you can reach it. From your laptop:\n", port);
        printf("    ssh -N -L %d:%s %s@%s\n", port, sock, me, host);
        printf("    then open http://localhost:%d%s\n", port, path ? path : "");
        json_int_t tcp = json_integer_value(json_object_get(p, "tcp"));
        if (tcp > 0)
                printf("    also on this server at 127.0.0.1:%lld, for you alone (VS Code "
                       "Remote-SSH: forward port %lld; or ssh -N -L %d:127.0.0.1:%lld "
                       "%s@%s)\n",
                       (long long)tcp, (long long)tcp, port, (long long)tcp, me, host);
}

void print_port_lines(const json_t *ports)
{
        size_t i;
        const json_t *p;
        json_array_foreach (ports, i, p)
                print_port_access(p, NULL);
        if (json_array_size(ports) > 0)
                printf("  (in the container the service must listen on 0.0.0.0, e.g. "
                       "jupyter lab --ip=0.0.0.0 --port=%d)\n",
                       (int)json_integer_value(json_object_get(json_array_get(ports, 0), "port")));
}

int cmd_port(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, tcp = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"tcp", 0, CLI_OPT_FLAG, &tcp, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 3);
        if (r != CLI_CONTINUE)
                return r;
        if ((r = cli_check_name(cmd, a.pos[0])) != CLI_CONTINUE)
                return r;
        const char *action = a.n_pos > 1 ? a.pos[1] : "list";
        bool list = streq(action, "list");
        if (!list && !streq(action, "add") && !streq(action, "remove"))
                return cli_usage_error(cmd, "unknown action '%s': give add, remove or list",
                                       action);
        if (list && a.n_pos > 2)
                return cli_usage_error(cmd, "list takes no port");
        if (!list && a.n_pos < 3)
                return cli_usage_error(cmd, "give the port: container-port %s %s 8888", a.pos[0],
                                       action);
        _cleanup_error_ struct error *err = NULL;
        int port = 0;
        if (!list && names_parse_port(a.pos[2], &port, &err) < 0)
                return cli_usage_error(cmd, "%s", err->message);

        if (tcp && !streq(action, "add"))
                return cli_usage_error(cmd, "--tcp goes with add");
        json_t *params = json_pack("{s:s, s:s}", "name", a.pos[0], "action", action);
        if (!list)
                json_object_set_new(params, "port", json_string(a.pos[2]));
        if (tcp)
                json_object_set_new(params, "tcp", json_true());
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "container.port", params, &res, NULL);
        if (r != 0)
                return r;
        const json_t *ports = json_object_get(res, "ports");
        if (json)
                output_json(res);
        else if (streq(action, "remove"))
                printf("Port %s of '%s' is no longer published.\n", a.pos[2], a.pos[0]);
        else if (json_array_size(ports) == 0)
                printf("'%s' publishes no port. Publish one with: container-port %s add 8888\n",
                       a.pos[0], a.pos[0]);
        else {
                json_t *shown = json_array();
                size_t i;
                json_t *p;
                json_array_foreach (ports, i, p)
                        if (list || json_integer_value(json_object_get(p, "port")) == port)
                                json_array_append(shown, p);
                if (list)
                        printf("Ports of '%s':\n", a.pos[0]);
                else
                        printf("Published port %d of '%s'.\n", port, a.pos[0]);
                print_port_lines(shown);
                json_decref(shown);
        }
        json_decref(res);
        return 0;
}
