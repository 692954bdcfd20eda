/* cmd-gpus.c - administrators' view of the GPU pool: `ds01 gpus [--rescan]`, and
 * `ds01 gpu drain|undrain UUID`. */
#include "client.h"
#include "cmd.h"
#include "output.h"

#include <stdio.h>

static void print_slots(const json_t *res)
{
        static const char *const headers[] = {"SLOT",  "UUID",      "MODEL", "WEIGHT",
                                              "OWNER", "CONTAINER", "LEASE", "AGE"};
        _cleanup_table_ struct table *t = table_new(ARRAY_SIZE(headers), headers);
        size_t i;
        json_t *s;
        size_t leased = 0, usable = 0;
        json_array_foreach (json_object_get(res, "slots"), i, s) {
                json_t *lease = json_object_get(s, "lease");
                json_t *drained = json_object_get(s, "drained");
                bool alloc = cli_jbool(s, "allocatable");
                char slot[48], weight[16], age[32] = "-";
                const char *profile = cli_jstr(s, "profile", NULL);
                if (profile)
                        snprintf(slot, sizeof(slot), "%lld.%s",
                                 (long long)json_integer_value(json_object_get(s, "index")),
                                 profile);
                else
                        snprintf(slot, sizeof(slot), "%lld",
                                 (long long)json_integer_value(json_object_get(s, "index")));
                snprintf(weight, sizeof(weight), "%.2f",
                         json_number_value(json_object_get(s, "weight")));
                const char *state = "free";
                if (!alloc)
                        state = "MIG parent";
                else if (lease)
                        state = cli_jstr(lease, "state", "?");
                else if (drained)
                        state = "drained";
                if (lease)
                        format_duration(json_integer_value(json_object_get(lease, "age_s")), age);
                if (alloc) {
                        usable += !drained;
                        leased += lease != NULL;
                }
                const char *cells[] = {slot,
                                       cli_jstr(s, "uuid", "?"),
                                       cli_jstr(s, "name", "?"),
                                       alloc ? weight : "-",
                                       lease ? cli_jstr(lease, "user", "?") : "-",
                                       lease ? cli_jstr(lease, "project", "?") : "-",
                                       state,
                                       age};
                table_add_row(t, cells);
                if (drained && lease)
                        table_set_colour(t, 6, OUTPUT_YELLOW);
        }
        table_print(t, stdout, output_colour());
        printf("\n%zu of %zu leasable slot(s) leased (%s backend)\n", leased, usable,
               cli_jstr(res, "backend", "?"));
        json_array_foreach (json_object_get(res, "orphaned_leases"), i, s)
                printf("warning: %s is leased to %s but no longer in the inventory\n",
                       cli_jstr(s, "uuid", "?"), cli_jstr(s, "container", "?"));
}

int cmd_gpus(const struct cli_command *cmd, int argc, char **argv)
{
        bool json = false, rescan = false;
        const struct cli_option opts[] = {
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {"rescan", 0, CLI_OPT_FLAG, &rescan, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 0, 0);
        if (r != CLI_CONTINUE)
                return r;
        _cleanup_error_ struct error *err = NULL;
        _cleanup_client_ struct client c = CLIENT_INIT;
        if (client_open(&c, &err) < 0)
                return output_error(cmd->name, err);
        json_t *res = NULL;
        if (rescan) {
                if (client_call(&c, "gpu.rescan", NULL, &res, NULL, &err) < 0)
                        return output_error(cmd->name, err);
                if (!json)
                        printf("rescanned: %s\n",
                               cli_jbool(res, "changed") ? "the inventory changed" : "no change");
                json_decref(res);
        }
        if (client_call(&c, "gpu.list", NULL, &res, NULL, &err) < 0)
                return output_error(cmd->name, err);
        if (json)
                output_json(res);
        else
                print_slots(res);
        json_decref(res);
        return 0;
}

int cmd_gpu_drain(const struct cli_command *cmd, int argc, char **argv)
{
        const char *reason = NULL;
        bool undrain = streq(cmd->name, "gpu-undrain"), json = false;
        const struct cli_option opts[] = {
            {"reason", 0, CLI_OPT_VALUE, &reason, NULL},
            {"json", 0, CLI_OPT_FLAG, &json, NULL},
            {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
        };
        _cleanup_(cli_args_release) struct cli_args a = {0};
        int r = cli_parse_n(cmd, argc, argv, opts, &a, 1, 1);
        if (r != CLI_CONTINUE)
                return r;
        if (undrain && reason)
                return cli_usage_error(cmd, "--reason is for drain");
        json_t *params = json_pack("{s:s, s:b}", "uuid", a.pos[0], "undrain", undrain);
        if (reason)
                json_object_set_new(params, "reason", json_string(reason));
        json_t *res = NULL;
        r = client_oneshot(cmd->name, "gpu.drain", params, &res, NULL);
        if (r != 0)
                return r;
        if (json)
                output_json(res);
        else if (undrain)
                printf("%s %s\n", a.pos[0],
                       cli_jbool(res, "changed") ? "undrained: new leases may use it again"
                                                 : "was not drained");
        else
                printf("%s %s\n", a.pos[0],
                       cli_jbool(res, "changed")
                           ? "drained: no new leases; running work keeps it until retired"
                           : "was already drained");
        json_decref(res);
        return 0;
}
