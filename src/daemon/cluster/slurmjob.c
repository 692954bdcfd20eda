/* slurmjob.c - reading a Slurm job for a deploy (see slurmjob.h). */
#include "daemon/cluster/slurmjob.h"

#include "shared/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void slurm_job_release(struct slurm_job *j)
{
        if (!j)
                return;
        free(j->state);
        free(j->user);
        free(j->node_list);
        for (size_t i = 0; i < j->n_allocs; i++) {
                free(j->allocs[i].nodes);
                free(j->allocs[i].gres);
        }
        free(j->allocs);
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

/* The value of word "KEY=value" if the word is that key. */
static const char *word_value(const char *w, size_t n, const char *key, size_t *ret_n)
{
        size_t k = strlen(key);
        if (n <= k || strncmp(w, key, k) != 0 || w[k] != '=')
                return NULL;
        *ret_n = n - k - 1;
        return w + k + 1;
}

int slurmjob_parse(const char *text, struct slurm_job *ret, struct error **err)
{
        struct slurm_job j = {.id = -1, .uid = -1};
        const char *end = strchr(text, '\n');
        if (!end)
                end = text + strlen(text);
        for (const char *p = text; p < end;) {
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                const char *w = p;
                while (p < end && *p != ' ' && *p != '\t')
                        p++;
                size_t n = (size_t)(p - w), vn;
                const char *v;
                if (n == 0)
                        break;
                if ((v = word_value(w, n, "JobId", &vn)) && j.id < 0) {
                        _cleanup_free_ char *s = xstrndup(v, vn);
                        if (!slurmjob_id_valid(s, &j.id))
                                j.id = -1;
                } else if ((v = word_value(w, n, "JobState", &vn)) && !j.state) {
                        j.state = xstrndup(v, vn);
                } else if ((v = word_value(w, n, "UserId", &vn)) && !j.user) {
                        /* "alice(1001)" */
                        const char *open = memchr(v, '(', vn);
                        j.user = xstrndup(v, open ? (size_t)(open - v) : vn);
                        if (open) {
                                char *e;
                                errno = 0;
                                long long u = strtoll(open + 1, &e, 10);
                                if (errno == 0 && e > open + 1 && *e == ')' && u >= 0 &&
                                    u < 4294967295LL)
                                        j.uid = u;
                        }
                } else if ((v = word_value(w, n, "NodeList", &vn)) && !j.node_list) {
                        j.node_list = xstrndup(v, vn);
                } else if ((v = word_value(w, n, "Nodes", &vn))) {
                        j.allocs = xrealloc(j.allocs, (j.n_allocs + 1) * sizeof(*j.allocs));
                        j.allocs[j.n_allocs++] =
                            (struct slurm_job_alloc){.nodes = xstrndup(v, vn), .gres = xstrdup("")};
                } else if ((v = word_value(w, n, "GRES", &vn)) && j.n_allocs > 0) {
                        free(j.allocs[j.n_allocs - 1].gres);
                        j.allocs[j.n_allocs - 1].gres = xstrndup(v, vn);
                }
        }
        const char *missing = j.id < 0   ? "JobId"
                              : !j.state ? "JobState"
                              : !j.user  ? "UserId"
                                         : NULL;
        if (missing) {
                slurm_job_release(&j);
                return error_set(err, DS01_ERR,
                                 "scontrol's answer has no %s - is this Slurm's scontrol?",
                                 missing);
        }
        *ret = j;
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

/* Whether range set "01-03,7" (n bytes) holds the number num (num_n bytes): its value in a
 * range, and as wide as the range's low end when that is zero-padded. */
static bool ranges_contain(const char *r, size_t n, const char *num, size_t num_n)
{
        long v = digits(num, num_n);
        if (v < 0)
                return false;
        for (const char *p = r, *end = r + n; p < end;) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                const char *e = comma ? comma : end;
                const char *dash = memchr(p, '-', (size_t)(e - p));
                size_t lo_n = (size_t)((dash ? dash : e) - p);
                long lo = digits(p, lo_n),
                     hi = dash ? digits(dash + 1, (size_t)(e - dash - 1)) : lo;
                if (lo < 0 || hi < lo)
                        return false;
                bool padded = lo_n > 1 && p[0] == '0';
                if (v >= lo && v <= hi && (!padded || num_n == lo_n))
                        return true;
                p = comma ? comma + 1 : end;
        }
        return false;
}

/* Whether one item "pre[ranges]suf" or "name" names node. */
static bool item_contains(const char *item, size_t n, const char *node)
{
        size_t nl = strlen(node);
        const char *open = memchr(item, '[', n);
        if (!open)
                return nl == n && strncmp(item, node, n) == 0;
        const char *close = memchr(open, ']', n - (size_t)(open - item));
        if (!close)
                return false;
        size_t pre = (size_t)(open - item), suf = n - (size_t)(close - item) - 1;
        if (nl <= pre + suf || strncmp(node, item, pre) != 0 ||
            strncmp(node + nl - suf, close + 1, suf) != 0)
                return false;
        return ranges_contain(open + 1, (size_t)(close - open - 1), node + pre, nl - pre - suf);
}

bool slurmjob_hostlist_contains(const char *list, const char *node)
{
        if (!list || !node || !*node)
                return false;
        /* items are split at commas outside brackets */
        for (const char *p = list; *p;) {
                const char *e = p;
                int depth = 0;
                while (*e && (depth > 0 || *e != ',')) {
                        depth += *e == '[' ? 1 : *e == ']' ? -1 : 0;
                        e++;
                }
                if (item_contains(p, (size_t)(e - p), node))
                        return true;
                p = *e ? e + 1 : e;
        }
        return false;
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
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
                        for (const char *q = r; q < close;) {
                                const char *c = memchr(q, ',', (size_t)(close - q));
                                const char *ce = c ? c : close;
                                const char *dash = memchr(q, '-', (size_t)(ce - q));
                                long lo = digits(q, (size_t)((dash ? dash : ce) - q));
                                long hi = dash ? digits(dash + 1, (size_t)(ce - dash - 1)) : lo;
                                if (lo < 0 || hi < lo || hi - lo >= SLURMJOB_MAX_GPUS)
                                        return error_set(err, DS01_ERR,
                                                         "cannot read Slurm's GRES '%.200s'", gres);
                                for (long k = lo; k <= hi; k++) {
                                        if (*n >= SLURMJOB_MAX_GPUS)
                                                return error_set(err, DS01_ERR,
                                                                 "Slurm's GRES '%.200s' names "
                                                                 "more than %d GPUs",
                                                                 gres, SLURMJOB_MAX_GPUS);
                                        ret[(*n)++] = (int)k;
                                }
                                q = c ? c + 1 : close;
                        }
                }
                p = *e ? e + 1 : e;
        }
        return 0;
}

int slurmjob_node_gpus(const struct slurm_job *j, const char *node, int *ret, struct error **err)
{
        size_t n = 0;
        for (size_t i = 0; i < j->n_allocs; i++)
                if (slurmjob_hostlist_contains(j->allocs[i].nodes, node) &&
                    gres_gpus(j->allocs[i].gres, ret, &n, err) < 0)
                        return -1;
        qsort(ret, n, sizeof(*ret), cmp_int);
        size_t k = 0; /* one index once */
        for (size_t i = 0; i < n; i++)
                if (k == 0 || ret[k - 1] != ret[i])
                        ret[k++] = ret[i];
        return (int)k;
}
