/*
 * mailbox.h - messages into a worker: a flag word for control messages and
 * a queue of completed memcached requests, both signalled by one eventfd.
 *
 * Any thread may post; only the owning worker takes.  The queue's mutex is
 * shared by the worker and the memcached helper threads that serve it,
 * never by two workers.
 */
#ifndef TESSERA_MAILBOX_H
#define TESSERA_MAILBOX_H

#include <pthread.h>
#include <stdatomic.h>

/* Embed as the first member of whatever is posted. */
struct mailbox_msg {
    struct mailbox_msg *next;
};

struct mailbox {
    int efd;
    _Atomic unsigned flags;
    pthread_mutex_t lock;
    struct mailbox_msg *head, *tail; /* guarded by lock */
};

/* Returns 0 or -errno. */
int mailbox_init(struct mailbox *m);
void mailbox_destroy(struct mailbox *m);

/* Any thread: OR `flags` in / append `msg` (ownership passes to the owner), and wake it. */
void mailbox_post_flags(struct mailbox *m, unsigned flags);
void mailbox_post(struct mailbox *m, struct mailbox_msg *msg);

/* Owner: clear the wake-up, return the flags posted since the last call and
 * hand over the queued messages in posting order (*list, NULL if none). */
unsigned mailbox_take(struct mailbox *m, struct mailbox_msg **list);

#endif
