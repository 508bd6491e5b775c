/*
 * mcprobe.h - the memcached prober, on the main thread's event loop: once a
 * second, a "version" round trip to every server, on a connection of its
 * own, fed into mc.c's health model (mc_health_*).
 *
 * Main thread only (mcprobe_new, mcprobe_free and every callback run there).
 * No probe blocks: connects and answers are loop events, each probe bounded
 * by its own deadline.  A server whose name did not resolve at start-up has
 * no address to probe from here; mc.c's prober thread keeps probing it
 * through libmemcached, which resolves names itself.
 */
#ifndef TESSERA_MCPROBE_H
#define TESSERA_MCPROBE_H

struct evloop;
struct mc;
struct mcprobe;

/* Start probing (the first round at once).  NULL on out of memory. */
struct mcprobe *mcprobe_new(struct mc *mc, struct evloop *loop);
void mcprobe_free(struct mcprobe *p);

/* How long a probe may take before it counts as a failure, for
 * memcached.timeout_ms: four times that, within [200, 900] ms. */
unsigned mcprobe_deadline_ms(unsigned timeout_ms);

#endif
