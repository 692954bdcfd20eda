/* config-lists.h - the parsers of ds01.yaml's list and mapping keys (config-lists.c), for the
 * key table of config.c only. Each parse_* replaces the field it owns in c (releasing what was
 * there) and fails with a file:line error; each free_* releases it. */
#pragma once

#include "daemon/config/config.h"
#include "daemon/config/yamldoc.h"

int parse_simulated(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                    struct error **err);
void default_simulated(struct config *c);
void free_simulated(struct config *c);
int parse_frameworks(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                     struct error **err);
void free_frameworks(struct config *c);
int parse_service_uids(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                       struct error **err);
void free_service_uids(struct config *c);
int parse_datasets(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                   struct error **err);
void free_datasets(struct config *c);
int parse_cluster(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                  struct error **err);
void free_cluster(struct config *c);
