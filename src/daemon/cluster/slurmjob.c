/* slurmjob.c - reading a Slurm job for a deploy (see slurmjob.h). */
#include "daemon/cluster/slurmjob.h"

#include "shared/util.h"

#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void slurm_job_release(struct slurm_job *j)
{
        if (!j)
                return;
        free(j->state);
        free(j->node_list);
        for (size_t i = 0; i < j->n_gres; i++)
                free(j->gres[i]);
        free(j->gres);
        memset(j, 0, sizeof(*j));
}

bool slurmjob_id_valid(const char *s, int64_t *ret_id)
{
        if (!s || !*s || strlen(s) > 10)
                return false;
        int64_t v = 0;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > 4294967295LL)
                return false;
        if (ret_id)
                *ret_id = v;
        return true;
}

int slurmjob_parse(const char *text, int64_t id, struct slurm_job *ret, struct error **err)
{
        json_error_t jerr;
        json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        json_t *jobs = json_object_get(root, "jobs");
        if (!json_is_array(jobs)) {
                json_decref(root);
                return error_set(err, DS01_ERR,
                                 "squeue --json's answer has no job list%s%s - is this Slurm's "
                                 "squeue (22.05 or later)?",
                                 root ? "" : ": ", root ? "" : jerr.text);
        }
        /* squeue --json exits 0 when slurmctld does not answer, with an empty job list and the
         * failure here: not "no such job" */
        json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);
        if (e0) {
                const char *descr = json_string_value(json_object_get(e0, "description"));
                const char *what = json_string_value(json_object_get(e0, "error"));
                const char *src = json_string_value(json_object_get(e0, "source"));
                error_set(err, DS01_ERR,
                          "cannot ask Slurm about job %lld: squeue --json reports '%.200s' "
                          "(%.100s, in %.60s) - is slurmctld up? Try again later",
                          (long long)id, descr ? descr : "an error", what ? what : "?",
                          src ? src : "?");
                json_decref(root);
                return -1;
        }
        size_t i;
        json_t *job;
        json_array_foreach (jobs, i, job) {
                json_t *jid = json_object_get(job, "job_id");
                if (!json_is_integer(jid) || json_integer_value(jid) != id)
                        continue;
                json_t *uid = json_object_get(job, "user_id");
                const char *state = json_string_value(json_object_get(job, "job_state"));
                const char *nodes = json_string_value(json_object_get(job, "nodes"));
                json_t *gres = json_object_get(job, "gres_detail");
                const char *missing = !json_is_integer(uid)  ? "user_id"
                                      : !state               ? "job_state"
                                      : !nodes               ? "nodes"
                                      : !json_is_array(gres) ? "gres_detail"
                                                             : NULL;
                if (missing) {
                        json_decref(root);
                        return error_set(err, DS01_ERR,
                                         "squeue --json's job %lld has no %s - is this Slurm's "
                                         "squeue (22.05 or later)?",
                                         (long long)id, missing);
                }
                struct slurm_job j = {
                    .id = id,
                    .state = xstrdup(state),
                    .uid = json_integer_value(uid),
                    .node_list = xstrdup(nodes),
                    .n_gres = json_array_size(gres),
                };
                j.gres = xcalloc(j.n_gres + 1, sizeof(*j.gres));
                for (size_t k = 0; k < j.n_gres; k++) {
                        const char *g = json_string_value(json_array_get(gres, k));
                        j.gres[k] = xstrdup(g ? g : "");
                }
                json_decref(root);
                *ret = j;
                return 1;
        }
        json_decref(root);
        return 0;
}

/* "17" of width n -> its value; -1 when not digits (at most 9). */
static long digits(const char *s, size_t n)
{
        if (n == 0 || n > 9)
                return -1;
        long v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* Where in range set "01-03,7" (n bytes) the number num (num_n bytes) is: its position in the
 * expanded set, or -1 (*ret_count gets the set's size either way; -2: malformed). A number is
 * in a range by value, and as wide as the range's low end when that is zero-padded. */
static int64_t ranges_index(const char *r, size_t n, const char *num, size_t num_n,
                            int64_t *ret_count)
{
        long v = digits(num, num_n);
        int64_t pos = 0;
        *ret_count = 0;
        for (const char *p = r, *end = r + n; p < end;) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                const char *e = comma ? comma : end;
                const char *dash = memchr(p, '-', (size_t)(e - p));
                size_t lo_n = (size_t)((dash ? dash : e) - p);
                long lo = digits(p, lo_n),
                     hi = dash ? digits(dash + 1, (size_t)(e - dash - 1)) : lo;
                if (lo < 0 || hi < lo)
                        return -2;
                bool padded = lo_n > 1 && p[0] == '0';
                if (v >= lo && v <= hi && (!padded || num_n == lo_n))
                        return pos + (v - lo);
                pos += hi - lo + 1;
                *ret_count = pos;
                p = comma ? comma + 1 : end;
        }
        return -1;
}

/* Where one item "pre[ranges]suf" or "name" names node: its position among the item's names,
 * or -1 (*ret_count gets how many names it has), -2 when malformed. */
static int64_t item_index(const char *item, size_t n, const char *node, int64_t *ret_count)
{
        size_t nl = strlen(node);
        *ret_count = 1;
        const char *open = memchr(item, '[', n);
        if (!open)
                return nl == n && strncmp(item, node, n) == 0 ? 0 : -1;
        const char *close = memchr(open, ']', n - (size_t)(open - item));
        if (!close)
                return -2;
        size_t pre = (size_t)(open - item), suf = n - (size_t)(close - item) - 1;
        bool named = nl > pre + suf && strncmp(node, item, pre) == 0 &&
                     strncmp(node + nl - suf, close + 1, suf) == 0;
        /* a node that does not match still counts the item's names */
        int64_t r = ranges_index(open + 1, (size_t)(close - open - 1), named ? node + pre : "",
                                 named ? nl - pre - suf : 0, ret_count);
        return r;
}

int64_t slurmjob_hostlist_index(const char *list, const char *node)
{
        if (!list || !node || !*node)
                return -1;
        int64_t pos = 0;
        /* items are split at commas outside brackets */
        for (const char *p = list; *p;) {
                const char *e = p;
                int depth = 0;
                while (*e && (depth > 0 || *e != ',')) {
                        depth += *e == '[' ? 1 : *e == ']' ? -1 : 0;
                        e++;
                }
                int64_t count, r = item_index(p, (size_t)(e - p), node, &count);
                if (r == -2)
                        return -1;
                if (r >= 0)
                        return pos + r;
                pos += count;
                p = *e ? e + 1 : e;
        }
        return -1;
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

/* Appends the numbers of range set "0-1,3" (r up to end) to ret from *n, at most max in all.
 * -1 when it is malformed or names more. */
static int expand_ranges(const char *r, const char *end, long *ret, size_t max, size_t *n)
{
        for (const char *q = r; q < end;) {
                const char *c = memchr(q, ',', (size_t)(end - q));
                const char *ce = c ? c : end;
                const char *dash = memchr(q, '-', (size_t)(ce - q));
                long lo = digits(q, (size_t)((dash ? dash : ce) - q));
                long hi = dash ? digits(dash + 1, (size_t)(ce - dash - 1)) : lo;
                if (lo < 0 || hi < lo || hi - lo >= (long)max)
                        return -1;
                for (long k = lo; k <= hi; k++) {
                        if (*n >= max)
                                return -1;
                        ret[(*n)++] = k;
                }
                q = c ? c + 1 : end;
        }
        return 0;
}

/* "gpu:2(IDX:0-1)", "gpu:a100:1(IDX:3),gpu:v100:1(IDX:5)", "gpu(IDX:0,2)", "" ->
 * the IDX numbers of the gpu entries. */
static int gres_gpus(const char *gres, int *ret, size_t *n, struct error **err)
{
        for (const char *p = gres; *p;) {
                const char *e = p;
                int depth = 0;
                while (*e && (depth > 0 || *e != ',')) {
                        depth += *e == '(' ? 1 : *e == ')' ? -1 : 0;
                        e++;
                }
                bool gpu = strncmp(p, "gpu", 3) == 0 && (p[3] == ':' || p[3] == '(');
                const char *idx = gpu ? strstr(p, "(IDX:") : NULL;
                if (gpu && (!idx || idx > e))
                        return error_set(err, DS01_ERR,
                                         "Slurm's GRES '%.200s' has no GPU indexes (IDX:)", gres);
                if (gpu) {
                        const char *r = idx + 5, *close = memchr(r, ')', (size_t)(e - r));
                        if (!close)
                                return error_set(err, DS01_ERR, "cannot read Slurm's GRES '%.200s'",
                                                 gres);
                        long nums[SLURMJOB_MAX_GPUS];
                        size_t k = 0;
                        if (expand_ranges(r, close, nums, SLURMJOB_MAX_GPUS - *n, &k) < 0)
                                return error_set(err, DS01_ERR,
                                                 "cannot read Slurm's GRES '%.200s' (or it names "
                                                 "more than %d GPUs)",
                                                 gres, SLURMJOB_MAX_GPUS);
                        for (size_t i = 0; i < k; i++)
                                ret[(*n)++] = (int)nums[i];
                }
                p = *e ? e + 1 : e;
        }
        return 0;
}

int slurmjob_node_gpus(const struct slurm_job *j, const char *node, int *ret, struct error **err)
{
        size_t n = 0;
        int64_t pos = slurmjob_hostlist_index(j->node_list, node);
        if (pos >= 0 && (size_t)pos < j->n_gres && gres_gpus(j->gres[pos], ret, &n, err) < 0)
                return -1;
        qsort(ret, n, sizeof(*ret), cmp_int);
        size_t k = 0; /* one index once */
        for (size_t i = 0; i < n; i++)
                if (k == 0 || ret[k - 1] != ret[i])
                        ret[k++] = ret[i];
        return (int)k;
}

/* The value of " KEY=" in line (up to a space or its end), copied into buf; false when absent
 * or too long. */
static bool field(const char *line, const char *end, const char *key, char *buf, size_t size)
{
        size_t kn = strlen(key);
        for (const char *p = line; p + kn <= end; p++) {
                if (strncmp(p, key, kn) != 0 || (p > line && p[-1] != ' '))
                        continue;
                const char *v = p + kn, *e = v;
                while (e < end && *e != ' ')
                        e++;
                if ((size_t)(e - v) >= size)
                        return false;
                memcpy(buf, v, (size_t)(e - v));
                buf[e - v] = '\0';
                return true;
        }
        return false;
}

/* The number "path" ends in (its first file's, for MultipleFiles "a,b"), or -1. */
static long file_number(const char *path)
{
        size_t n = strcspn(path, ",");
        size_t k = n;
        while (k > 0 && path[k - 1] >= '0' && path[k - 1] <= '9')
                k--;
        return digits(path + k, n - k);
}

/* Appends a GPU of type and file number to ret at *n; false when ret is full. */
static bool push_gpu(struct slurm_gres_gpu *ret, size_t *n, const char *type, long file_no)
{
        if (*n >= SLURMJOB_MAX_GPUS)
                return false;
        ret[*n].file_no = file_no;
        snprintf(ret[*n].type, sizeof(ret[*n].type), "%s", type);
        (*n)++;
        return true;
}

/* Appends the GPUs of one record: Count of them, numbered by File "pre[0-1,3]" (or a plain
 * path), those without a file of their own numbered -1. -1 when malformed or over
 * SLURMJOB_MAX_GPUS. */
static int record_gpus(const char *file, long count, const char *type, struct slurm_gres_gpu *ret,
                       size_t *n)
{
        const char *open = strchr(file, '[');
        long nums[SLURMJOB_MAX_GPUS];
        size_t k = 0;
        if (!open) {
                nums[k++] = streq(file, "(null)") ? -1 : file_number(file);
        } else {
                const char *close = strchr(open, ']');
                if (!close || close[1] != '\0' || /* "...[0-3]" only: a suffix is no device */
                    expand_ranges(open + 1, close, nums, SLURMJOB_MAX_GPUS, &k) < 0)
                        return -1;
        }
        for (long i = 0; i < (long)k || i < count; i++)
                if (!push_gpu(ret, n, type, i < (long)k ? nums[i] : -1))
                        return -1;
        return 0;
}

int slurmjob_parse_gres_layout(const char *text, struct slurm_gres_gpu *ret, struct error **err)
{
        size_t n = 0;
        /* a record runs from its "Gres Name=" to the next (slurmcmd_run makes stderr one line) */
        for (const char *p = text ? strstr(text, "Gres Name=") : NULL; p;) {
                const char *next = strstr(p + 1, "Gres Name=");
                const char *end = next ? next : p + strcspn(p, "\n");
                const char *g = strncmp(p, "Gres Name=gpu ", 14) == 0 ? p : NULL;
                if (g) {
                        char type[64], count[16], file[256];
                        long c;
                        if (!field(g, end, "Type=", type, sizeof(type)) ||
                            !field(g, end, "Count=", count, sizeof(count)) ||
                            !field(g, end, "File=", file, sizeof(file)) ||
                            (c = digits(count, strlen(count))) < 1)
                                return error_set(err, DS01_ERR,
                                                 "cannot read slurmd's GPU record '%.*s'",
                                                 (int)(end - p > 200 ? 200 : end - p), p);
                        if (streq(type, "(null)"))
                                type[0] = '\0';
                        if (record_gpus(file, c, type, ret, &n) < 0)
                                return error_set(err, DS01_ERR,
                                                 "cannot read slurmd's GPU record '%.*s' (over "
                                                 "%d GPUs, or a File= ds01 cannot expand)",
                                                 (int)(end - p > 200 ? 200 : end - p), p,
                                                 SLURMJOB_MAX_GPUS);
                }
                p = next;
        }
        return (int)n;
}
