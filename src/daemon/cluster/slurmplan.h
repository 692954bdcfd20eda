/* slurmplan.h - `ds01 slurm-sync` as pure functions: the Slurm accounting objects ds01 owns (what
 * resource-limits.yaml asks for, and what sacctmgr says there is), read from sacctmgr's
 * parseable output (`-n -P`), and the steps that turn one into the other, in an order that is
 * safe to stop at any step and to run again. No I/O, no state, no locks (slurmsync.c runs it).
 *
 * What ds01 writes, for each limits group G (N = cluster.account_prefix + G, e.g. ds01_student):
 *  - QOS N: MaxTRESPerUser=gres/gpu=<max_gpu_equivalents rounded up> (Slurm counts devices, and
 *    ds01's cap is per user), MaxWall=<max_runtime_h in minutes>; unlimited values are unset;
 *    Flags=DenyOnLimit (a job over them is refused at submission, not left pending);
 *  - account N on the cluster, under root: Fairshare=<the group's priority, at least 1>,
 *    QOS=N, DefaultQOS=N;
 *  - an association (user, N) for each user of G.
 * Accounts and QOS are marked as ds01's by name (the prefix) and by description
 * ("ds01: group G"); ds01 changes and removes only objects carrying both, and refuses to take
 * over an object of its name that lacks the description. */
#pragma once

#include "shared/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLURMPLAN_DESCR    "ds01: group "
#define SLURMPLAN_NAME_MAX 64

struct slurm_qos {
        char *name;
        char *descr;
        int64_t max_gpus;     /* MaxTRESPerUser gres/gpu; -1: unset */
        int64_t max_wall_min; /* MaxWall in minutes; -1: unset */
};

struct slurm_account {
        char *name;
        char *descr;
        bool on_cluster; /* has an association on the cluster */
        int64_t fairshare;
        char *qos;         /* the association's QOS list as sacctmgr prints it */
        char *default_qos; /* "" when none */
};

struct slurm_assoc {
        char *user;
        char *account;
};

struct slurm_state {
        struct slurm_qos *qos;
        size_t n_qos;
        struct slurm_account *accounts;
        size_t n_accounts;
        struct slurm_assoc *assocs; /* user associations on the cluster */
        size_t n_assocs;
        struct slurm_assoc *defaults; /* each user's default account (have only) */
        size_t n_defaults;
};

void slurm_state_release(struct slurm_state *s);

enum slurm_op { SLURM_ADD, SLURM_CHANGE, SLURM_REMOVE };

struct slurm_step {
        enum slurm_op op;
        char *what;  /* for people: "qos ds01_student: MaxWall 2880 -> 1440 min" */
        char **args; /* sacctmgr's arguments after "-i", NULL-terminated */
};

struct slurm_plan {
        struct slurm_step *steps;
        size_t n;
};

void slurm_plan_release(struct slurm_plan *p);

/* Slurm's names (accounts, QOS, users, clusters): [a-z0-9_] and '.', '-' after the first
 * character (logins have them), at most SLURMPLAN_NAME_MAX bytes. */
bool slurmplan_name_valid(const char *s);
/* A limits group's name as a Slurm name: prefix + group, lowercased, '-' and '.' as '_'; NULL
 * when the result is not a valid name (the caller says why). */
char *slurmplan_object_name(const char *prefix, const char *group);

/* Wanted objects, added one by one (each copied). */
void slurmplan_want_group(struct slurm_state *want, const char *name, const char *group,
                          double max_gpu_equivalents, double max_runtime_h, int64_t priority);
void slurmplan_want_user(struct slurm_state *want, const char *user, const char *account);

/* sacctmgr's answers (-n -P) into have:
 *   show qos format=Name,Description,MaxTRESPU,MaxWall
 *   show account format=Account,Description
 *   show assoc where cluster=C format=Account,User,Fairshare,QOS,DefaultQOS
 *   show user format=User,DefaultAccount
 * A line that does not have the fields is an error naming it. */
int slurmplan_parse_qos(struct slurm_state *have, const char *text, struct error **err);
int slurmplan_parse_accounts(struct slurm_state *have, const char *text, struct error **err);
int slurmplan_parse_assocs(struct slurm_state *have, const char *text, struct error **err);
int slurmplan_parse_defaults(struct slurm_state *have, const char *text, struct error **err);
/* "2-00:00:00", "48:00:00", "30:00" (MM:SS), "" (unset: -1) -> minutes; -2 when malformed. */
int64_t slurmplan_parse_wall(const char *s);

/* The steps from have to want, for the objects named prefix* with ds01's description:
 * QOS added and changed, accounts added and changed, user associations added, default
 * accounts moved off ds01 accounts a user leaves, then user associations, accounts and QOS
 * removed (each only after nothing ds01 keeps refers to it). An object of a wanted name that is
 * not ds01's is an error that names it. */
int slurmplan_diff(const struct slurm_state *want, const struct slurm_state *have,
                   const char *cluster, const char *prefix, struct slurm_plan *ret,
                   struct error **err);
