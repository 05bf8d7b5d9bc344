#include "msg_dev.h"

#include <stdlib.h>

static void msg_dev_free(struct msg_dev *m)
{
	if (m->srv)
		m->srv_ops->destroy(m->srv);
	free(m->req);
	free(m->rep);
	free(m);
}

struct msg_dev *msg_dev_new(size_t size, const struct msg_server_ops *so, void *srv)
{
	struct msg_dev *m = calloc(1, size);
	if (!m) {
		so->destroy(srv);
		return NULL;
	}
	*m = (struct msg_dev){ .srv_ops = so, .srv = srv, .req = malloc(so->msg_max), .rep = malloc(so->msg_max) };
	if (!m->req || !m->rep) {
		msg_dev_free(m);
		return NULL;
	}
	return m;
}

/* One request. A request longer than any the server takes is cut at msg_max: the server
 * then finds it malformed (its stated length too long) and answers with an error. */
static uint32_t serve(struct msg_dev *m, const struct virtq_chain *c)
{
	size_t max = m->srv_ops->msg_max;
	size_t len = iov_to_buf(c->out, c->nr_out, 0, m->req, max);
	size_t room = c->in_len < max ? (size_t)c->in_len : max;
	size_t n = m->srv_ops->handle(m->srv, m->req, len, m->rep, room);
	m->requests++;
	if (m->srv_ops->is_error(m->rep, n))
		m->errors++;
	return (uint32_t)iov_from_buf(c->in, c->nr_in, 0, m->rep, n);
}

/* Every queue carries the same requests (virtio-fs: FORGETs on its high-priority one):
 * one server. */
void msg_dev_notify(struct virtio_dev *d, unsigned int q)
{
	struct msg_dev *m = (struct msg_dev *)d;
	while (virtio_dev_pop(d, q, &m->chain) > 0)
		virtq_push(&d->vqs[q], &m->chain, serve(m, &m->chain));
	virtio_dev_used(d, q);
}

void msg_dev_reset(struct virtio_dev *d)
{
	struct msg_dev *m = (struct msg_dev *)d;
	m->srv_ops->reset(m->srv);
}

void msg_dev_destroy(struct virtio_dev *d)
{
	virtio_dev_destroy_common(d);
	msg_dev_free((struct msg_dev *)d);
}
