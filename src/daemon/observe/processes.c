/* processes.c - container-top (see processes.h). */
#include "daemon/observe/processes.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/requests/access.h"

#include <stdio.h>
#include <stdlib.h>

/* The columns asked of ps, in this order (procps: etimes and cputimes are seconds). */
#define PS_ARGS "-eo pid,etimes,cputimes,pcpu,args"
enum { COL_PID, COL_ELAPSED, COL_CPU_S, COL_CPU_PCT, COL_ARGS, N_COLS };

/* The pid as the container sees it: the last NSpid of the host's /proc/PID/status (0: gone). */
static long ns_pid(long host_pid)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%ld/status", host_pid);
        FILE *f = fopen(path, "re");
        long pid = 0;
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "NSpid:", 6) == 0) {
                        char *p = line + 6, *end;
                        for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
                                pid = v;
                                p = end;
                        }
                        break;
                }
        if (f)
                fclose(f);
        return pid;
}

static int by_pid(const void *a, const void *b)
{
        json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "pid"));
        json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "pid"));
        return (x > y) - (x < y);
}

static json_t *rows(const json_t *top)
{
        json_t *procs = json_object_get(top, "Processes");
        size_t n = json_array_size(procs);
        json_t **v = xcalloc(n ? n : 1, sizeof(*v));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *p = json_array_get(procs, i);
                if (json_array_size(p) != N_COLS)
                        continue;
                const char *col[N_COLS];
                for (int c = 0; c < N_COLS; c++)
                        col[c] = json_string_value(json_array_get(p, (size_t)c));
                if (!col[COL_PID] || !col[COL_ARGS])
                        continue;
                long pid = ns_pid(strtol(col[COL_PID], NULL, 10));
                if (pid <= 0)
                        continue; /* exited since ps ran */
                v[k++] =
                    json_pack("{s:I, s:f, s:I, s:I, s:s}", "pid", (json_int_t)pid, "cpu_percent",
                              col[COL_CPU_PCT] ? atof(col[COL_CPU_PCT]) : 0.0, "cpu_s",
                              (json_int_t)(col[COL_CPU_S] ? atoll(col[COL_CPU_S]) : 0), "elapsed_s",
                              (json_int_t)(col[COL_ELAPSED] ? atoll(col[COL_ELAPSED]) : 0),
                              "command", col[COL_ARGS]);
        }
        qsort(v, k, sizeof(*v), by_pid);
        json_t *a = json_array();
        for (size_t i = 0; i < k; i++)
                json_array_append_new(a, v[i]);
        free(v);
        return a;
}

int processes_top(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        _cleanup_free_ char *name = NULL;
        json_t *inspect = NULL;
        if (access_container(d, c, jstr(params, "name"), "top", &name, &inspect, err) < 0)
                return -1;
        int r = -1;
        if (!inspect)
                r = access_not_found(jstr(params, "name"), err);
        else if (!json_is_true(json_object_get(json_object_get(inspect, "State"), "Running")))
                r = error_set(err, DS01_ERR,
                              "'%s' is not running, so nothing runs in it (container-start %s)",
                              jstr(params, "name"), jstr(params, "name"));
        else {
                json_t *top = docker_container_top(d->docker, name, PS_ARGS, err);
                if (top) {
                        *ret_result =
                            json_pack("{s:s, s:o}", "container", name, "processes", rows(top));
                        json_decref(top);
                        r = 0;
                }
        }
        json_decref(inspect);
        return r;
}
