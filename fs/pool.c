/* SPDX-License-Identifier: MIT */
/*
 * The one worker pool of fs/: a few threads that run queued jobs in order. Commits of
 * different artifacts run on one (commit.c), and each commit's chunk uploads on another
 * (upload.c): a job never waits for a job of its own pool, so neither can deadlock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fs_int.h"

struct job {
	struct job *next;
	void (*fn)(void *arg);
	void *arg;
};

struct fs_pool {
	pthread_mutex_t m;
	pthread_cond_t work;
	struct job *head, *tail;
	unsigned max, nth, idle;
	size_t queued; /* jobs in the queue, not yet taken */
	int stop;
	pthread_t th[];
};

static void *pool_main(void *arg)
{
	struct fs_pool *p = arg;

	pthread_mutex_lock(&p->m);
	while (1) {
		struct job *j;

		while (!p->head && !p->stop) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->m);
			p->idle--;
		}
		j = p->head;
		if (!j)
			break; /* stopping, and nothing is left to run */
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->m);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&p->m);
	}
	pthread_mutex_unlock(&p->m);
	return NULL;
}

int fs_pool_create(unsigned threads, struct fs_pool **out)
{
	struct fs_pool *p = calloc(1, sizeof(*p) + threads * sizeof(pthread_t));

	if (!p)
		return ENOMEM;
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->work, NULL);
	p->max = threads ? threads : 1;
	*out = p;
	return 0;
}

int fs_pool_submit(struct fs_pool *p, void (*fn)(void *arg), void *arg)
{
	struct job *j = malloc(sizeof(*j));

	if (!j)
		return ENOMEM;
	j->next = NULL;
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&p->m);
	/* Threads start as work comes (a pool never used costs none): one more whenever the
	 * queue holds more jobs than there are idle threads to take them. */
	if (p->queued + 1 > p->idle && p->nth < p->max &&
	    pthread_create(&p->th[p->nth], NULL, pool_main, p) == 0)
		p->nth++;
	if (!p->nth) {
		pthread_mutex_unlock(&p->m);
		free(j);
		return EAGAIN; /* no thread could start */
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->m);
	return 0;
}

void fs_pool_destroy(struct fs_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->m);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->m);
	for (unsigned i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->m);
	pthread_cond_destroy(&p->work);
	free(p);
}
