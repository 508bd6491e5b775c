/*
 * mailbox.c - MPSC mailbox: atomic flag word + mutex-guarded list + eventfd.
 *
 * Posters run on any thread (supervisor, memcached helpers); the owner
 * worker takes everything in one go when its eventfd fires, so the lock is
 * held for a pointer swap on either side.
 */
#include "mailbox.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

int
mailbox_init(struct mailbox *m)
{
    m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->efd < 0) {
        return -errno;
    }
    atomic_init(&m->flags, 0);
    pthread_mutex_init(&m->lock, NULL);
    m->head = m->tail = NULL;
    return 0;
}

void
mailbox_destroy(struct mailbox *m)
{
    if (m->efd >= 0) {
        close(m->efd);
        m->efd = -1;
        pthread_mutex_destroy(&m->lock);
    }
}

static void
mailbox_wake(struct mailbox *m)
{
    uint64_t one = 1;

    /* EAGAIN means the counter is saturated: the owner will wake anyway. */
    if (write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        log_error_limited("mailbox: cannot wake its owner: %s", strerror(errno));
    }
}

void
mailbox_post_flags(struct mailbox *m, unsigned flags)
{
    atomic_fetch_or_explicit(&m->flags, flags, memory_order_release);
    mailbox_wake(m);
}

void
mailbox_post(struct mailbox *m, struct mailbox_msg *msg)
{
    bool was_empty;

    msg->next = NULL;
    pthread_mutex_lock(&m->lock);
    was_empty = m->head == NULL;
    if (m->tail != NULL) {
        m->tail->next = msg;
    } else {
        m->head = msg;
    }
    m->tail = msg;
    pthread_mutex_unlock(&m->lock);
    /* A non-empty list has a wake-up pending already: the owner takes the
     * whole list after reading the eventfd, so one write per batch is enough. */
    if (was_empty) {
        mailbox_wake(m);
    }
}

unsigned
mailbox_take(struct mailbox *m, struct mailbox_msg **list)
{
    uint64_t v;

    if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        log_warn_limited("mailbox: %s", strerror(errno));
    }
    pthread_mutex_lock(&m->lock);
    *list = m->head;
    m->head = m->tail = NULL;
    pthread_mutex_unlock(&m->lock);
    return atomic_exchange_explicit(&m->flags, 0, memory_order_acquire);
}
