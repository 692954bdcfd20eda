#include "client.h"
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
