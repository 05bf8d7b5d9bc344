#include "mig_channels.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Channel k (>= 1): connected, authenticated and joined. */
static int open_one(struct mig_channels *c, unsigned int k, const char *uri, const struct mig_key *key,
		    const struct mig_join *join, char *err, size_t errlen)
{
	struct mig_chan *ch = calloc(1, sizeof(*ch));
	if (!ch) {
		snprintf(err, errlen, "out of memory for migration channel %u", k);
		return -ENOMEM;
	}
	c->ch[k] = ch;
	char why[256] = "";
	ch->fd = mig_socket(uri, false, why, sizeof(why));
	int e = ch->fd < 0 ? ch->fd : mig_tune_socket(ch->fd);
	if (ch->fd >= 0)
		atomic_store(&c->fds[k], ch->fd);
	if (!e)
		e = mig_auth_sender(ch, key, why, sizeof(why));
	struct mig_join j = { .n = k };
	memcpy(j.token, join->token, MIG_TOKEN_SIZE);
	if (!e)
		e = mig_send_join(ch, MIG_JOIN, &j);
	if (!e)
		e = mig_send_mac(ch);
	if (e)
		snprintf(err, errlen, "migration channel %u of %u: %s", k + 1, c->n, why[0] ? why : strerror(-e));
	return e;
}

int mig_channels_open(struct mig_channels *c, unsigned int n, struct mig_chan *ch0, const char *uri,
		      const struct mig_key *key, atomic_int fds[MIG_MAX_CHANNELS], char *err, size_t errlen)
{
	*c = (struct mig_channels){ .n = n, .fd0 = ch0->fd, .fds = fds };
	if (n <= 1)
		return 0;
	struct mig_join join = { .n = n };
	randombytes_buf(join.token, MIG_TOKEN_SIZE);
	int e = mig_send_join(ch0, MIG_CHANNELS, &join);
	if (!e)
		e = mig_flush(ch0);
	if (e) {
		snprintf(err, errlen, "asking for %u channels: %s", n, strerror(-e));
		return e;
	}
	for (unsigned int k = 1; k < n && !e; k++)
		e = open_one(c, k, uri, key, &join, err, errlen);
	return e;
}

struct share_job {
	struct mig_channels *c;
	struct mig_stream st;      /* the first channel's, on this one */
	struct mig_pass count;
	struct mig_share share;
	pthread_t thread;
	bool started;
	int e;
};

/* Cuts every channel: a failure of one ends the pass on all (the receiver then fails
 * too), instead of the others sending on for nothing. */
static void cut_all(struct mig_channels *c)
{
	shutdown(c->fd0, SHUT_RDWR);
	for (unsigned int k = 1; k < c->n; k++) {
		int fd = atomic_load(&c->fds[k]);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
}

static void *share_thread(void *arg)
{
	struct share_job *j = arg;
	int e = mig_stream_all_ram(&j->st, &j->share);
	if (!e)
		e = mig_send_u32(j->st.ch, MIG_PASS_END, 0);
	if (!e)
		e = mig_send_mac(j->st.ch);
	if (e)
		cut_all(j->c);
	j->e = e;
	return NULL;
}

static void close_one(struct mig_channels *c, unsigned int k)
{
	if (!c->ch[k])
		return;
	atomic_store(&c->fds[k], -1);
	if (c->ch[k]->fd >= 0)
		close(c->ch[k]->fd);
	free(c->ch[k]);
	c->ch[k] = NULL;
}

int mig_channels_pass0(struct mig_channels *c, struct mig_stream *st)
{
	if (c->n <= 1)
		return mig_stream_all_ram(st, NULL);
	struct share_job jobs[MIG_MAX_CHANNELS] = { 0 };
	int e = 0;
	for (unsigned int k = 1; k < c->n && !e; k++) {
		struct share_job *j = &jobs[k];
		*j = (struct share_job){ .c = c, .st = *st, .share = { k, c->n } };
		j->st.ch = c->ch[k];
		j->st.count = &j->count;
		j->st.after_record = NULL; /* the throttle's kick is the first channel's */
		e = -pthread_create(&j->thread, NULL, share_thread, j);
		j->started = e == 0;
	}
	struct mig_share first = { 0, c->n };
	if (!e)
		e = mig_stream_all_ram(st, &first);
	if (e)
		cut_all(c);
	for (unsigned int k = 1; k < c->n; k++) {
		if (!jobs[k].started)
			continue;
		pthread_join(jobs[k].thread, NULL);
		e = e ? e : jobs[k].e;
		mig_pass_add(st->count, &jobs[k].count);
		if (!c->keep)
			close_one(c, k);
	}
	return e;
}

int mig_channels_empty_pass0(struct mig_channels *c)
{
	int e = 0;
	for (unsigned int k = 1; k < c->n && !e; k++) {
		e = mig_send_u32(c->ch[k], MIG_PASS_END, 0);
		if (!e)
			e = mig_send_mac(c->ch[k]);
	}
	return e;
}

void mig_channels_close(struct mig_channels *c)
{
	for (unsigned int k = 1; k < c->n; k++)
		close_one(c, k);
}
