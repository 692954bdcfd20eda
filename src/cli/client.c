#include "client.h"
#include "cmd.h"
#include "output.h"

#include "../proto/proto.h"

int client_open(struct client *c, struct error **err)
{
        int fd = proto_connect(NULL, err);
        if (fd < 0)
                return -1;
        c->sock = fd;
        return 0;
}

int client_call(struct client *c, const char *method, json_t *params, json_t **ret_result,
                int *ret_fd, struct error **err)
{
        if (c->sock < 0) {
                json_decref(params);
                return error_set(err, DS01_ERR, "not connected to the ds01 daemon");
        }
        json_t *notices = NULL;
        int r = proto_call(c->sock, method, params, ret_result, ret_fd, &notices, err);
        output_notices(notices);
        json_decref(notices);
        return r;
}

void client_close(struct client *c)
{
        if (c->sock >= 0)
                close(c->sock);
        c->sock = -1;
}

int client_oneshot(const char *cmd, const char *method, json_t *params, json_t **ret_result,
                   int *ret_fd)
{
        _cleanup_client_ struct client c = CLIENT_INIT;
        _cleanup_error_ struct error *err = NULL;
        if (client_open(&c, &err) < 0) {
                json_decref(params);
                return output_error(cmd, err);
        }
        if (client_call(&c, method, params, ret_result, ret_fd, &err) < 0)
                return output_error(cmd, err);
        return 0;
}

int cli_show(const struct cli_command *cmd, int argc, char **argv, const char *method,
             bool takes_user, void (*print)(const json_t *), int (*exit_of)(const json_t *))
{
        json_t *params = json_object();
        bool json = false;
        const char *user = NULL;
        const struct cli_option opts_user[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"user", 'u', CLI_OPT_VALUE, &user, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r =
            cli_parse_n(cmd, argc, argv, takes_user ? opts_user : opts, &a, 0, takes_user ? 1 : 0);
        if (r != CLI_CONTINUE) {
                json_decref(params);
                return r;
        }
        if (takes_user && a.n_pos)
                user = a.pos[0];
        if (user)
                json_object_set_new(params, "user", json_string(user));
        json_t *res = NULL;
        r = client_oneshot(cmd->name, method, params, &res, NULL);
        if (r != 0)
                return r;
        if (json)
                output_json(res);
        else
                print(res);
        r = exit_of ? exit_of(res) : 0;
        json_decref(res);
        return r;
}
