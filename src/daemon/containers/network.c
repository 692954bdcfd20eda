/* network.c - per-user Docker networks for containers and builds (see network.h). */
#include "daemon/containers/network.h"

#include "daemon/containers/oplock.h"

#include "daemon/docker/dockerjson.h"

#include "shared/log.h"
#include "shared/spawn.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SWEEP_INTERVAL_MS 60000
#define CREATE_TRIES      8 /* subnets tried when others take ours between list and create */

struct holder {
        char *name;
        int count;
};

struct network {
        struct docker *docker;
        struct oplocks *names; /* one create or remove at a time per network name */
        pthread_mutex_t lock;  /* holders, last_sweep_ms; never held across a Docker call */
        struct holder *held;
        size_t n_held;
        int64_t last_sweep_ms;
        bool firewall; /* network_firewall_start() ran: keep the host rules in step */
};

struct network *network_new(struct docker *docker)
{
        struct network *n = xzalloc(sizeof(*n));
        n->docker = docker;
        n->names = oplocks_new();
        pthread_mutex_init(&n->lock, NULL);
        return n;
}

struct network *network_free(struct network *n)
{
        if (n) {
                for (size_t i = 0; i < n->n_held; i++)
                        free(n->held[i].name);
                free(n->held);
                n->names = oplocks_free(n->names);
                pthread_mutex_destroy(&n->lock);
                free(n);
        }
        return NULL;
}

/* ---- pure helpers ---- */

char *network_name(const char *instance, uid_t uid, enum network_use use)
{
        return xasprintf("%s-u%u%s", instance, (unsigned)uid,
                         use == NETWORK_BUILDS ? "-build" : "");
}

static bool overlaps(uint32_t a, int a_bits, uint32_t b, int b_bits)
{
        uint64_t a_end = (uint64_t)a + (1ull << (32 - a_bits));
        uint64_t b_end = (uint64_t)b + (1ull << (32 - b_bits));
        return a < b_end && b < a_end;
}

int network_free_subnet(uint32_t base, int bits, int prefix, const uint32_t (*used)[2],
                        size_t n_used, uint32_t *ret_base)
{
        if (bits < 0 || prefix < bits || prefix > 32)
                return -1;
        uint64_t count = 1ull << (prefix - bits), size = 1ull << (32 - prefix);
        for (uint64_t i = 0; i < count; i++) {
                uint32_t cand = (uint32_t)(base + i * size);
                bool taken = false;
                for (size_t k = 0; k < n_used && !taken; k++)
                        taken = overlaps(cand, prefix, used[k][0], (int)used[k][1]);
                if (!taken) {
                        *ret_base = cand;
                        return 0;
                }
        }
        return -1;
}

/* ---- isolation ---- */

/* Runs iptables with argv[1..] (argv[0] is set here); its exit status, or -1 if none could
 * run. Output goes to /dev/null: callers say what failed. */
static int run_iptables(const char *argv[])
{
        static const char *const paths[] = {"/usr/sbin/iptables", "/sbin/iptables",
                                            "/usr/bin/iptables", "/bin/iptables"};
        return spawn_wait(paths, ARRAY_SIZE(paths), argv);
}

int network_check_isolation(struct error **err)
{
        const char *argv[] = {NULL, "-w", "10", "-n", "-L", "DOCKER-ISOLATION-STAGE-1", NULL};
        int r = run_iptables(argv);
        if (r == 0)
                return 0;
        return error_set(err, DS01_ERR,
                         "cannot confirm that Docker keeps its networks apart: %s - without "
                         "Docker's DOCKER-ISOLATION iptables rules, users' containers reach each "
                         "other. Run dockerd with iptables management on (the default; not "
                         "--iptables=false), or set network.require_isolation: false in ds01.yaml "
                         "if the site isolates ds01's bridge networks (label ds01.instance) itself",
                         r < 0 ? "no iptables command in /usr/sbin, /sbin, /usr/bin or /bin"
                               : "the iptables chain DOCKER-ISOLATION-STAGE-1 does not exist");
}

/* ---- the host's other users ----
 *
 * A container's bridge address is reachable from the host itself, where every local user has a
 * shell. Locally made connections into a ds01 bridge are allowed only from root (Docker's
 * proxies, administrators) and from the network's owner; replies to connections the containers
 * made stay allowed. The rules live in a chain of this instance's own, DS01-<hash of the
 * instance>, that OUTPUT jumps to first (the jump carries the comment "ds01:<instance>"). They
 * stay while ds01d is down: the containers do too. */

static void fw_chain(const char *instance, char buf[static 16])
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *)instance; *p; p++)
                h = (h ^ *p) * 16777619u;
        snprintf(buf, 16, "DS01-%08x", h);
}

/* Docker names a network's bridge br-<first 12 of its id> unless the network says otherwise. */
static char *fw_bridge(const json_t *net)
{
        const char *named = jstr(json_object_get(net, "Options"), "com.docker.network.bridge.name");
        const char *id = jstr(net, "Id");
        if (named && *named)
                return xstrdup(named);
        return id && strlen(id) >= 12 ? xasprintf("br-%.12s", id) : NULL;
}

/* Adds (or, with add false, deletes) the rules of one network. */
static int fw_rules(const char *chain, const char *bridge, uid_t uid, bool add)
{
        char uid_s[16];
        snprintf(uid_s, sizeof(uid_s), "%u", (unsigned)uid);
        const char *op = add ? "-A" : "-D";
        const char *rules[][8] = {
            {"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN", NULL},
            {"-m", "owner", "--uid-owner", "0", "-j", "RETURN", NULL},
            {"-m", "owner", "--uid-owner", uid_s, "-j", "RETURN", NULL},
            {"-j", "REJECT", NULL},
        };
        int bad = 0;
        for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
                const char *argv[16] = {NULL, "-w", "10", op, chain, "-o", bridge};
                size_t k = 7;
                for (size_t j = 0; rules[i][j]; j++)
                        argv[k++] = rules[i][j];
                argv[k] = NULL;
                bad |= run_iptables(argv) != 0;
        }
        return bad ? -1 : 0;
}

/* The owner uid of one of our networks or containers (its ds01.uid label), or -1. */
static int64_t label_uid(const json_t *obj)
{
        const char *s = jstr(json_object_get(obj, "Labels"), "ds01.uid");
        unsigned uid;
        char end;
        return s && sscanf(s, "%u%c", &uid, &end) == 1 ? (int64_t)uid : -1;
}

/* Rules for a network just made; on failure the network is removed again. */
static int fw_protect(struct network *n, const struct config *cfg, const char *name, uid_t uid,
                      struct error **err)
{
        if (!n->firewall)
                return 0;
        char chain[16];
        fw_chain(cfg->instance, chain);
        json_t *net = docker_network_inspect(n->docker, name, NULL);
        _cleanup_free_ char *bridge = net ? fw_bridge(net) : NULL;
        json_decref(net);
        if (bridge && fw_rules(chain, bridge, uid, true) == 0)
                return 0;
        if (bridge)
                fw_rules(chain, bridge, uid, false);
        docker_network_remove(n->docker, name, NULL);
        return error_set(err, DS01_ERR,
                         "cannot add the iptables rules that keep other local users out of "
                         "network %s (chain %s) - see 'iptables -S %s'",
                         name, chain, chain);
}

int network_firewall_start(struct network *n, const struct config *cfg, struct error **err)
{
        char chain[16];
        fw_chain(cfg->instance, chain);
        _cleanup_free_ char *comment = xasprintf("ds01:%s", cfg->instance);
        const char *create[] = {NULL, "-w", "10", "-N", chain, NULL};
        const char *flush[] = {NULL, "-w", "10", "-F", chain, NULL};
        const char *check[] = {NULL,      "-w",        "10",    "-C", "OUTPUT", "-m",
                               "comment", "--comment", comment, "-j", chain,    NULL};
        const char *jump[] = {NULL,      "-w",        "10",    "-I", "OUTPUT", "1", "-m",
                              "comment", "--comment", comment, "-j", chain,    NULL};
        run_iptables(create); /* fails when it exists: fine */
        if (run_iptables(flush) != 0 || (run_iptables(check) != 0 && run_iptables(jump) != 0))
                return error_set(err, DS01_ERR,
                                 "cannot set up the iptables chain %s that keeps local users out "
                                 "of other users' containers (is iptables usable by root here?)",
                                 chain);
        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", cfg->instance);
        json_t *nets = docker_network_list(n->docker, filter, err);
        if (!nets)
                return error_wrap(err, "listing ds01's networks");
        size_t i;
        json_t *net;
        int r = 0;
        json_array_foreach (nets, i, net) {
                /* the list omits Options: inspect for the bridge's name */
                json_t *full = docker_network_inspect(n->docker, jstr(net, "Id"), NULL);
                _cleanup_free_ char *bridge = full ? fw_bridge(full) : NULL;
                int64_t uid = label_uid(net);
                json_decref(full);
                if (bridge && uid >= 0 && fw_rules(chain, bridge, (uid_t)uid, true) < 0) {
                        r = error_set(err, DS01_ERR,
                                      "cannot add the iptables rules of network %s (chain %s)",
                                      jstr(net, "Name"), chain);
                        break;
                }
        }
        json_decref(nets);
        if (r == 0)
                n->firewall = true;
        return r;
}

/* ---- holders ---- */

static void hold(struct network *n, const char *name)
{
        for (size_t i = 0; i < n->n_held; i++)
                if (streq(n->held[i].name, name)) {
                        n->held[i].count++;
                        return;
                }
        n->held = xrealloc(n->held, (n->n_held + 1) * sizeof(*n->held));
        n->held[n->n_held++] = (struct holder){xstrdup(name), 1};
}

static bool is_held(const struct network *n, const char *name)
{
        for (size_t i = 0; i < n->n_held; i++)
                if (streq(n->held[i].name, name))
                        return true;
        return false;
}

void network_release(struct network *n, const char *name)
{
        if (!name)
                return;
        pthread_mutex_lock(&n->lock);
        for (size_t i = 0; i < n->n_held; i++) {
                if (!streq(n->held[i].name, name))
                        continue;
                if (--n->held[i].count == 0) {
                        free(n->held[i].name);
                        n->held[i] = n->held[--n->n_held];
                }
                break;
        }
        pthread_mutex_unlock(&n->lock);
}

/* Removes one of our networks (by id: a name may be ambiguous) with its host rules. Docker
 * refuses while an endpoint remains (a container, a build step starting). */
static int remove_net(struct network *n, const struct config *cfg, const json_t *net,
                      struct error **err)
{
        const char *id = jstr(net, "Id");
        if (!id)
                return error_set(err, DS01_ERR, "a network without an Id");
        json_t *full = docker_network_inspect(n->docker, id, NULL);
        _cleanup_free_ char *bridge = full ? fw_bridge(full) : NULL;
        json_decref(full);
        if (docker_network_remove(n->docker, id, err) < 0)
                return -1;
        int64_t uid = label_uid(net);
        if (n->firewall && bridge && uid >= 0) {
                char chain[16];
                fw_chain(cfg->instance, chain);
                fw_rules(chain, bridge, (uid_t)uid, false);
        }
        return 0;
}

/* ---- create ---- */

/* An existing network of this name is ours only with our labels: anything else (made by hand,
 * or another instance's) is refused rather than joined. */
static int check_ours(const json_t *net, const char *name, const char *instance, uid_t uid,
                      struct error **err)
{
        const json_t *labels = json_object_get(net, "Labels");
        _cleanup_free_ char *uid_s = xasprintf("%u", (unsigned)uid);
        if (streq_ptr(jstr(labels, "ds01.instance"), instance) &&
            streq_ptr(jstr(labels, "ds01.uid"), uid_s))
                return 0;
        return error_set(err, DS01_ERR,
                         "a Docker network named '%s' exists that ds01 did not create - an "
                         "administrator removes it (docker network rm %s)",
                         name, name);
}

/* The IPv4 subnets every Docker network holds, as {base, bits} pairs. */
static size_t used_subnets(const json_t *list, uint32_t (**ret)[2])
{
        uint32_t(*used)[2] = NULL;
        size_t n = 0, i, j;
        json_t *net, *cfg;
        json_array_foreach (list, i, net) {
                json_array_foreach (json_object_get(json_object_get(net, "IPAM"), "Config"), j,
                                    cfg) {
                        const char *s = jstr(cfg, "Subnet");
                        uint32_t b;
                        int bits;
                        /* unparsable (IPv6): Docker refuses an overlap anyway */
                        if (!s || config_parse_ipv4_cidr(s, &b, &bits) < 0)
                                continue;
                        used = xrealloc(used, (n + 1) * sizeof(*used));
                        used[n][0] = b;
                        used[n][1] = (uint32_t)bits;
                        n++;
                }
        }
        *ret = used;
        return n;
}

static json_t *create_spec(const char *name, const char *instance, uid_t uid, enum network_use use,
                           uint32_t subnet, int prefix)
{
        char cidr[32];
        snprintf(cidr, sizeof(cidr), "%u.%u.%u.%u/%d", subnet >> 24, (subnet >> 16) & 255,
                 (subnet >> 8) & 255, subnet & 255, prefix);
        /* A user's containers talk to each other (icc); builds need only the way out. */
        return json_pack("{s:s, s:b, s:s, s:b, s:b, s:{s:s, s:[{s:s}]}, s:{s:s}, s:{s:s, s:o, "
                         "s:s}}",
                         "Name", name, "CheckDuplicate", 1, "Driver", "bridge", "Internal", 0,
                         "EnableIPv6", 0, "IPAM", "Driver", "default", "Config", "Subnet", cidr,
                         "Options", "com.docker.network.bridge.enable_icc",
                         use == NETWORK_CONTAINERS ? "true" : "false", "Labels", "ds01.instance",
                         instance, "ds01.uid", json_sprintf("%u", (unsigned)uid), "ds01.network",
                         use == NETWORK_CONTAINERS ? "containers" : "builds");
}

/* Creates `name` on a free subnet of the pool. Another network (ours or not) may take a
 * subnet between the list and the create: Docker refuses overlaps, so try the next one. */
static int create(struct network *n, const struct config *cfg, const char *name, uid_t uid,
                  enum network_use use, struct error **err)
{
        uint32_t pool;
        int pool_bits, prefix = (int)cfg->network_subnet_prefix;
        if (config_parse_ipv4_cidr(cfg->network_pool, &pool, &pool_bits) < 0)
                return error_set(err, DS01_ERR, "network.pool '%s' is not an IPv4 range",
                                 cfg->network_pool);
        json_t *list = docker_network_list(n->docker, NULL, err);
        if (!list)
                return error_wrap(err, "listing Docker's networks");
        uint32_t(*used)[2] = NULL;
        size_t n_used = used_subnets(list, &used);
        json_decref(list);
        int r = -1;
        for (int tries = 0; tries < CREATE_TRIES; tries++) {
                uint32_t subnet;
                if (network_free_subnet(pool, pool_bits, prefix, (const uint32_t(*)[2])used, n_used,
                                        &subnet) < 0) {
                        error_set(err, DS01_ERESOURCE,
                                  "no free /%d subnet left in network.pool %s for the network "
                                  "of uid %u - an administrator widens network.pool or raises "
                                  "network.subnet_prefix in ds01.yaml",
                                  prefix, cfg->network_pool, (unsigned)uid);
                        break;
                }
                json_t *spec = create_spec(name, cfg->instance, uid, use, subnet, prefix);
                _cleanup_free_ char *id = NULL;
                struct error *cerr = NULL;
                int cr = docker_network_create(n->docker, spec, &id, &cerr);
                json_decref(spec);
                if (cr == 0) {
                        r = fw_protect(n, cfg, name, uid, err);
                        if (r == 0)
                                log_info("created network %s (%u.%u.%u.%u/%d) for uid %u", name,
                                         subnet >> 24, (subnet >> 16) & 255, (subnet >> 8) & 255,
                                         subnet & 255, prefix, (unsigned)uid);
                        break;
                }
                /* Made meanwhile by someone else (another daemon with this instance)? */
                json_t *net = docker_network_inspect(n->docker, name, NULL);
                if (net) {
                        error_free(cerr);
                        r = check_ours(net, name, cfg->instance, uid, err);
                        json_decref(net);
                        break;
                }
                log_debug("creating network %s on subnet %u.%u.%u.%u/%d: %s", name, subnet >> 24,
                          (subnet >> 16) & 255, (subnet >> 8) & 255, subnet & 255, prefix,
                          cerr->message);
                if (tries == CREATE_TRIES - 1) {
                        error_set(err, DS01_ERR, "creating Docker network %s: %s", name,
                                  cerr->message);
                        error_free(cerr);
                        break;
                }
                error_free(cerr);
                used = xrealloc(used, (n_used + 1) * sizeof(*used));
                used[n_used][0] = subnet;
                used[n_used][1] = (uint32_t)prefix;
                n_used++;
        }
        free(used);
        return r;
}

static int by_created(const void *a, const void *b)
{
        const char *ca = jstr(*(json_t *const *)a, "Created");
        const char *cb = jstr(*(json_t *const *)b, "Created");
        return strcmp(ca ? ca : "", cb ? cb : "");
}

/* Docker's duplicate check races: two creates of one name at once (a daemon killed during a
 * deploy and its successor) both succeed, and every later use of the name is "ambiguous".
 * Keeps one of our networks of that name - one in use if any is - and removes the others
 * (newest first). Returns how many of that name are left. */
static size_t dedupe(struct network *n, const struct config *cfg, const char *name)
{
        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", cfg->instance);
        struct error *err = NULL;
        json_t *nets = docker_network_list(n->docker, filter, &err);
        if (!nets) {
                log_warning("listing networks to mend %s: %s", name, err->message);
                error_free(err);
                return 0;
        }
        json_t **same = NULL;
        size_t n_same = 0, i;
        json_t *net;
        json_array_foreach (nets, i, net)
                if (streq_ptr(jstr(net, "Name"), name)) {
                        same = xrealloc(same, (n_same + 1) * sizeof(*same));
                        same[n_same++] = net;
                }
        qsort(same, n_same, sizeof(*same), by_created);
        size_t left = n_same;
        for (size_t k = n_same; k-- > 0 && left > 1;) {
                if (remove_net(n, cfg, same[k], &err) < 0) {
                        err = error_free(err); /* in use: the one to keep */
                        continue;
                }
                log_warning("removed a duplicate Docker network %s (%s)", name,
                            jstr(same[k], "Id"));
                left--;
        }
        free(same);
        json_decref(nets);
        return left;
}

int network_acquire(struct network *n, const struct config *cfg, uid_t uid, enum network_use use,
                    char **ret_name, struct error **err)
{
        _cleanup_free_ char *name = network_name(cfg->instance, uid, use);
        /* The name, not the whole module: other users' deploys do not wait for this one's. */
        if (oplock_acquire_wait(n->names, name, 60, err) < 0)
                return -1;
        struct error *ierr = NULL;
        int r;
        json_t *net = docker_network_inspect(n->docker, name, &ierr);
        if (!net && ierr->code != DS01_ENOTFOUND && dedupe(n, cfg, name) == 1) {
                ierr = error_free(ierr);
                net = docker_network_inspect(n->docker, name, &ierr);
        }
        if (net)
                r = check_ours(net, name, cfg->instance, uid, err);
        else if (ierr->code == DS01_ENOTFOUND)
                r = create(n, cfg, name, uid, use, err);
        else
                r = error_set(err, DS01_ERR, "inspecting Docker network %s: %s", name,
                              ierr->message);
        json_decref(net);
        error_free(ierr);
        if (r == 0) {
                pthread_mutex_lock(&n->lock);
                hold(n, name);
                pthread_mutex_unlock(&n->lock);
        }
        oplock_release(n->names, name);
        if (r == 0)
                *ret_name = TAKE_PTR(name);
        return r;
}

/* ---- adopt ---- */

/* Connects first, then leaves the bridge: a running container always has a network. */
static int move(struct network *n, const struct config *cfg, const char *id, uid_t uid,
                char **ret_net, struct error **err)
{
        if (network_acquire(n, cfg, uid, NETWORK_CONTAINERS, ret_net, err) < 0)
                return -1;
        int r = docker_network_connect(n->docker, *ret_net, id, true, err);
        if (r == 0)
                r = docker_network_connect(n->docker, "bridge", id, false, err);
        network_release(n, *ret_net);
        return r;
}

/* The ledger knows the container (the first of its Docker names, without the '/'). */
static bool in_ledger(struct store *store, const json_t *c)
{
        const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        struct store_container sc;
        if (!name || name[0] != '/' || store_get(store, name + 1, &sc, NULL) < 0)
                return false;
        store_container_release(&sc);
        return true;
}

void network_adopt(struct network *n, const struct config *cfg, struct store *store)
{
        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", cfg->instance);
        struct error *err = NULL;
        json_t *list = docker_container_list(n->docker, filter, true, &err);
        if (!list) {
                log_warning("moving containers off Docker's default bridge: %s", err->message);
                error_free(err);
                return;
        }
        size_t i;
        json_t *c;
        json_array_foreach (list, i, c) {
                const json_t *nets =
                    json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
                const char *id = jstr(c, "Id");
                int64_t uid = label_uid(c);
                if (!id || !json_object_get(nets, "bridge") || !in_ledger(store, c))
                        continue;
                if (uid < 0) {
                        log_warning("container %.12s is on Docker's default bridge and has no "
                                    "ds01.uid label: left there",
                                    id);
                        continue;
                }
                _cleanup_free_ char *net = NULL;
                if (move(n, cfg, id, (uid_t)uid, &net, &err) < 0) {
                        log_error("container %.12s of uid %u stays on Docker's default bridge, "
                                  "where other users' containers reach it: %s",
                                  id, (unsigned)uid, err->message);
                        err = error_free(err);
                        continue;
                }
                log_notice("moved container %.12s of uid %u from Docker's default bridge to %s", id,
                           (unsigned)uid, net);
        }
        json_decref(list);
}

/* ---- sweep ---- */

/* Every network name a container (any, of any instance) is on or will join when started. */
static bool in_use(const json_t *containers, const char *name)
{
        size_t i;
        json_t *c;
        json_array_foreach (containers, i, c) {
                if (streq_ptr(jstr(json_object_get(c, "HostConfig"), "NetworkMode"), name))
                        return true;
                if (json_object_get(
                        json_object_get(json_object_get(c, "NetworkSettings"), "Networks"), name))
                        return true;
        }
        return false;
}

/* Whether a container is on `name` now, as Docker says (when it cannot say: yes). */
static bool used_now(struct network *n, const char *name)
{
        json_t *now = docker_container_list(n->docker, NULL, true, NULL);
        bool used = !now || in_use(now, name);
        json_decref(now);
        return used;
}

void network_sweep(struct network *n, const struct config *cfg, bool now)
{
        pthread_mutex_lock(&n->lock);
        int64_t t = mono_ms();
        bool skip = !now && n->last_sweep_ms && t - n->last_sweep_ms < SWEEP_INTERVAL_MS;
        if (!skip)
                n->last_sweep_ms = t;
        pthread_mutex_unlock(&n->lock);
        if (skip)
                return;
        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", cfg->instance);
        struct error *err = NULL;
        json_t *nets = docker_network_list(n->docker, filter, &err);
        json_t *containers = nets ? docker_container_list(n->docker, NULL, true, &err) : NULL;
        if (!containers) {
                log_warning("network sweep: %s", err->message);
                error_free(err);
                json_decref(nets);
                return;
        }
        size_t i;
        json_t *net;
        json_array_foreach (nets, i, net) {
                const char *name = jstr(net, "Name");
                if (!name || in_use(containers, name))
                        continue;
                /* A deploy or build creating it now has its name: left to them. */
                if (oplock_acquire(n->names, name, NULL) < 0)
                        continue;
                pthread_mutex_lock(&n->lock);
                bool held = is_held(n, name);
                pthread_mutex_unlock(&n->lock);
                /* Not held now, but a deploy may have made a container on it (and let go) since
                 * the list above: ask Docker again before removing. */
                if (!held && !used_now(n, name)) {
                        if (remove_net(n, cfg, net, &err) < 0) {
                                log_debug("network sweep: keeping %s: %s", name, err->message);
                                err = error_free(err);
                        } else
                                log_info("removed network %s: nothing uses it", name);
                }
                oplock_release(n->names, name);
        }
        json_decref(containers);
        json_decref(nets);
}
