#include "populate_ahead.h"

#include "prefault.h"

static void *helper(void *arg)
{
	struct populate_ahead *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->count && !p->stopping)
			pthread_cond_wait(&p->more, &p->lock);
		if (p->stopping)
			break;
		struct populate_range r = p->q[p->head];
		p->head = (p->head + 1) % POPULATE_AHEAD_QUEUE;
		p->count--;
		pthread_mutex_unlock(&p->lock);
		/* A failure (the backing ran out) is the writer's to meet and report. */
		bool ok = mem_populate(r.start, r.len, p->page_size) == 0;
		pthread_mutex_lock(&p->lock);
		p->populated += ok ? r.len : 0;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void populate_ahead_start(struct populate_ahead *p, unsigned int threads, uint64_t page_size)
{
	*p = (struct populate_ahead){ .page_size = page_size };
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	if (threads > POPULATE_AHEAD_MAX_THREADS)
		threads = POPULATE_AHEAD_MAX_THREADS;
	for (unsigned int i = 0; i < threads; i++)
		if (pthread_create(&p->threads[p->nr_threads], NULL, helper, p) == 0)
			p->nr_threads++;
}

void populate_ahead_hint(struct populate_ahead *p, uint8_t *start, uint64_t len)
{
	uintptr_t a = (uintptr_t)start & ~(uintptr_t)(p->page_size - 1);
	uintptr_t b = ((uintptr_t)start + len + p->page_size - 1) & ~(uintptr_t)(p->page_size - 1);
	pthread_mutex_lock(&p->lock);
	if (!p->nr_threads || p->count == POPULATE_AHEAD_QUEUE) {
		p->dropped += len;
	} else {
		p->q[(p->head + p->count) % POPULATE_AHEAD_QUEUE] = (struct populate_range){ (uint8_t *)a, b - a };
		p->count++;
		pthread_cond_signal(&p->more);
	}
	pthread_mutex_unlock(&p->lock);
}

void populate_ahead_stop(struct populate_ahead *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->count = 0;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->nr_threads; i++)
		pthread_join(p->threads[i], NULL);
	p->nr_threads = 0;
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
}
