// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the dma-buf backend (pin.c) against a small dynamic
 * exporter of our own that behaves like a GPU driver's: pinning an
 * attachment for a device that is not its peer moves the buffer, and the
 * exporter tells every importer with move_notify, the one being pinned
 * included.  That notification comes before the importer's own map and
 * invalidates nothing of it; one after the map does.
 */

#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "mcx_kunit.h"
#include "../internal.h"

struct mcx_test_exporter {
	bool move_on_pin;
	unsigned int pins, unpins, maps, unmaps;
};

static int mcx_texp_pin(struct dma_buf_attachment *attach)
{
	struct mcx_test_exporter *x = attach->dmabuf->priv;

	x->pins++;
	/* the move a GPU exporter makes to reach a non-peer device */
	if (x->move_on_pin)
		dma_buf_move_notify(attach->dmabuf);
	return 0;
}

static void mcx_texp_unpin(struct dma_buf_attachment *attach)
{
	struct mcx_test_exporter *x = attach->dmabuf->priv;

	x->unpins++;
}

static struct sg_table *mcx_texp_map(struct dma_buf_attachment *attach,
				     enum dma_data_direction dir)
{
	struct mcx_test_exporter *x = attach->dmabuf->priv;
	struct sg_table *sgt;

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	/* no real memory behind it: the importer never touches the pages */
	if (sg_alloc_table(sgt, 1, GFP_KERNEL)) {
		kfree(sgt);
		return ERR_PTR(-ENOMEM);
	}
	x->maps++;
	return sgt;
}

static void mcx_texp_unmap(struct dma_buf_attachment *attach,
			   struct sg_table *sgt, enum dma_data_direction dir)
{
	struct mcx_test_exporter *x = attach->dmabuf->priv;

	x->unmaps++;
	sg_free_table(sgt);
	kfree(sgt);
}

static void mcx_texp_release(struct dma_buf *dmabuf)
{
}

static const struct dma_buf_ops mcx_texp_ops = {
	.pin = mcx_texp_pin,
	.unpin = mcx_texp_unpin,
	.map_dma_buf = mcx_texp_map,
	.unmap_dma_buf = mcx_texp_unmap,
	.release = mcx_texp_release,
};

struct mcx_pin_case {
	struct mcx_test_exporter x;
	struct dma_buf *dmabuf;
	struct device *dev;
	struct mcx_attach att;
};

static void mcx_pin_case_exit(struct kunit_resource *res)
{
	struct mcx_pin_case *pc = res->data;

	if (!IS_ERR_OR_NULL(pc->dmabuf))
		dma_buf_put(pc->dmabuf);
	if (pc->dev)
		put_device(pc->dev);
}

static void mcx_pin_case_dev_release(struct device *dev)
{
	kfree(dev);
}

static struct mcx_pin_case *mcx_pin_case(struct kunit *test,
					 const struct dma_buf_ops *ops)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct mcx_pin_case *pc;

	pc = kunit_kzalloc(test, sizeof(*pc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pc);
	info.ops = ops;
	info.size = PAGE_SIZE;
	info.flags = O_RDWR;
	info.priv = &pc->x;
	info.exp_name = "mcx-kunit-gpu";
	pc->dmabuf = dma_buf_export(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pc->dmabuf));
	/*
	 * The device attached for: never registered (the exporter only
	 * records it), so that it works before the module's init too.
	 */
	pc->dev = kzalloc(sizeof(*pc->dev), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pc->dev);
	device_initialize(pc->dev);
	pc->dev->release = mcx_pin_case_dev_release;
	kunit_alloc_resource(test, NULL, mcx_pin_case_exit, GFP_KERNEL, pc);
	return pc;
}

static void *mcx_pin_case_attach(struct kunit *test, struct mcx_pin_case *pc)
{
	struct mcx_pin_ctx ctx = { .dmabuf = pc->dmabuf, .dev = pc->dev };

	return mcx_backend_ops.attach(&mcx_t(test)->reg, &pc->att, &ctx);
}

static bool mcx_pin_case_invalid(struct mcx_pin_case *pc)
{
	return READ_ONCE(pc->att.invalid);
}

/*
 * The move of our own pin invalidates nothing; a later one does.  (Without
 * CONFIG_DMABUF_MOVE_NOTIFY the core pins once more around each map, so
 * pins are only counted against unpins.)
 */
static void mcx_pin_ignores_own_move(struct kunit *test)
{
	struct mcx_pin_case *pc = mcx_pin_case(test, &mcx_texp_ops);
	void *priv;

	pc->x.move_on_pin = true;
	priv = mcx_pin_case_attach(test, pc);
	KUNIT_ASSERT_FALSE(test, IS_ERR(priv));
	KUNIT_EXPECT_GE(test, pc->x.pins, 1U);
	KUNIT_EXPECT_EQ(test, pc->x.maps, 1U);
	KUNIT_EXPECT_FALSE(test, mcx_pin_case_invalid(pc));

	/* the exporter moves the buffer again, now that we use it */
	dma_resv_lock(pc->dmabuf->resv, NULL);
	dma_buf_move_notify(pc->dmabuf);
	dma_resv_unlock(pc->dmabuf->resv);
	KUNIT_EXPECT_TRUE(test, mcx_pin_case_invalid(pc));

	mcx_backend_ops.detach(&mcx_t(test)->reg, priv);
	KUNIT_EXPECT_EQ(test, pc->x.unmaps, 1U);
	KUNIT_EXPECT_EQ(test, pc->x.unpins, pc->x.pins);
	KUNIT_EXPECT_TRUE(test, list_empty(&pc->dmabuf->attachments));
}

/* A failed pin leaves nothing attached, mapped or referenced. */
static int mcx_texp_pin_fails(struct dma_buf_attachment *attach)
{
	return -EBUSY;
}

static const struct dma_buf_ops mcx_texp_failing_ops = {
	.pin = mcx_texp_pin_fails,
	.unpin = mcx_texp_unpin,
	.map_dma_buf = mcx_texp_map,
	.unmap_dma_buf = mcx_texp_unmap,
	.release = mcx_texp_release,
};

static void mcx_pin_failure_unwinds(struct kunit *test)
{
	struct mcx_pin_case *pc = mcx_pin_case(test, &mcx_texp_failing_ops);
	void *priv;

	priv = mcx_pin_case_attach(test, pc);
	KUNIT_EXPECT_EQ(test, PTR_ERR(priv), -EBUSY);
	KUNIT_EXPECT_EQ(test, pc->x.maps, 0U);
	/* our reference and attachment are gone: only the case's is left */
	KUNIT_EXPECT_EQ(test, file_count(pc->dmabuf->file), 1L);
	KUNIT_EXPECT_TRUE(test, list_empty(&pc->dmabuf->attachments));
}

static struct kunit_case mcx_pin_cases[] = {
	KUNIT_CASE(mcx_pin_ignores_own_move),
	KUNIT_CASE(mcx_pin_failure_unwinds),
	{}
};

static struct kunit_suite mcx_pin_suite = {
	.name = "mcxfer_pin",
	.init = mcx_test_init,
	.exit = mcx_test_exit,
	.test_cases = mcx_pin_cases,
};

kunit_test_suite(mcx_pin_suite);
