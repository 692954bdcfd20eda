/* slot.c - GPU slots (see slot.h). */
#include "daemon/gpus/slot.h"

#include <stdlib.h>

static void slot_release(struct gpu_slot *s)
{
        free(s->uuid);
        free(s->parent_uuid);
        free(s->name);
        free(s->profile);
        free(s->pci_bus_id);
}

void gpu_slots_free(struct gpu_slot *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                slot_release(&v[i]);
        free(v);
}
