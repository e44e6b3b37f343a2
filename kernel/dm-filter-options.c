// SPDX-License-Identifier: GPL-2.0
/*
 * dm-filter-options.c - the option parser every filter type shares: "name=value" words into a config struct.
 *
 * A refusal names the word and the reason, in f->error (kept in the attachment, so it
 * outlives the call) and in the kernel log, the way dm targets set ti->error. On a
 * refusal nothing the parser allocated is left behind: ranges it filled are freed.
 */
#include <linux/bitmap.h>
#include <linux/device-mapper.h>
#include <linux/kdev_t.h>
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include "dm-filter-internal.h"

#define DM_MSG_PREFIX "filter"

/* An option table is small; a longer one is a bug in the type. */
#define DMF_MAX_OPTS 64

static __printf(2, 3) int dmf_opt_refuse(struct dm_filter *f, const char *fmt, ...)
{
	struct dmf_attachment *a = container_of(f, struct dmf_attachment, filter);
	va_list args;

	va_start(args, fmt);
	vsnprintf(a->error, sizeof(a->error), fmt, args);
	va_end(args);
	f->error = a->error;
	return -EINVAL;
}

static int dmf_range_cmp(const void *l, const void *r)
{
	const struct dm_filter_range *a = l, *b = r;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return 0;
}

static bool dmf_misaligned(u64 v, u64 align)
{
	u64 rem = 0;

	if (align)
		div64_u64_rem(v, align, &rem);
	return rem;
}

/* Parses the n-th "OFFSET+LENGTH" of an option into r. */
static int dmf_parse_range(struct dm_filter *f, const struct dm_filter_opt *opt, unsigned int n,
			   char *word, struct dm_filter_range *r)
{
	char *plus = strchr(word, '+');

	if (plus)
		*plus = '\0';
	if (!plus || kstrtou64(word, 10, &r->start) || kstrtou64(plus + 1, 10, &r->len))
		return dmf_opt_refuse(f, "option %s: range %u is not OFFSET+LENGTH in decimal bytes",
				      opt->name, n);
	if (!r->len)
		return dmf_opt_refuse(f, "option %s: range %u has length 0", opt->name, n);
	if (r->len > U64_MAX - r->start)
		return dmf_opt_refuse(f, "option %s: range %u ends beyond 2^64 bytes", opt->name, n);
	if (dmf_misaligned(r->start, opt->align) || dmf_misaligned(r->len, opt->align))
		return dmf_opt_refuse(f, "option %s: range %u is not a multiple of %llu bytes",
				      opt->name, n, opt->align);
	return 0;
}

static int dmf_parse_ranges(struct dm_filter *f, const struct dm_filter_opt *opt, char *value,
			    struct dm_filter_ranges *out)
{
	struct dm_filter_range *r;
	unsigned int n = 1, i, merged;
	char *word;
	int err;

	if (!*value)
		return dmf_opt_refuse(f, "option %s: no ranges given (OFFSET+LENGTH[,...])", opt->name);
	for (word = value; *word; word++)
		n += *word == ',';
	r = kmalloc_array(n, sizeof(*r), GFP_KERNEL);
	if (!r) {
		f->error = "out of memory";
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		err = dmf_parse_range(f, opt, i + 1, strsep(&value, ","), &r[i]);
		if (err) {
			kfree(r);
			return err;
		}
	}
	/* sorted, overlapping and adjacent ranges merged: lookups are a binary search */
	sort(r, n, sizeof(*r), dmf_range_cmp, NULL);
	for (merged = 0, i = 1; i < n; i++) {
		if (r[i].start <= r[merged].start + r[merged].len) {
			u64 end = max(r[merged].start + r[merged].len, r[i].start + r[i].len);

			r[merged].len = end - r[merged].start;
		} else {
			r[++merged] = r[i];
		}
	}
	out->count = merged + 1;
	out->r = r;
	return 0;
}

static int dmf_parse_value(struct dm_filter *f, const struct dm_filter_opt *opt, char *value,
			   void *field)
{
	unsigned int major, minor, i;
	char tail;
	u64 v;

	switch (opt->kind) {
	case DM_FILTER_OPT_BOOL:
		if (!strcmp(value, "true"))
			*(bool *)field = true;
		else if (!strcmp(value, "false"))
			*(bool *)field = false;
		else
			return dmf_opt_refuse(f, "option %s: '%s' is not true or false",
					      opt->name, value);
		return 0;
	case DM_FILTER_OPT_U64:
		if (kstrtou64(value, 10, &v))
			return dmf_opt_refuse(f, "option %s: '%s' is not a decimal number",
					      opt->name, value);
		if (v < opt->min || (opt->max && v > opt->max))
			return dmf_opt_refuse(f, "option %s: %llu is outside [%llu, %llu]",
					      opt->name, v, opt->min, opt->max ?: U64_MAX);
		if (dmf_misaligned(v, opt->align))
			return dmf_opt_refuse(f, "option %s: %llu is not a multiple of %llu",
					      opt->name, v, opt->align);
		*(u64 *)field = v;
		return 0;
	case DM_FILTER_OPT_ENUM:
		for (i = 0; opt->choices && opt->choices[i]; i++) {
			if (!strcmp(value, opt->choices[i])) {
				*(unsigned int *)field = i;
				return 0;
			}
		}
		return dmf_opt_refuse(f, "option %s: unknown value '%s'", opt->name, value);
	case DM_FILTER_OPT_RANGES:
		return dmf_parse_ranges(f, opt, value, field);
	case DM_FILTER_OPT_DEV:
		if (sscanf(value, "%u:%u%c", &major, &minor, &tail) != 2 ||
		    major >= (1U << (32 - MINORBITS)) || minor > MINORMASK)
			return dmf_opt_refuse(f, "option %s: '%s' is not MAJOR:MINOR",
					      opt->name, value);
		*(dev_t *)field = MKDEV(major, minor);
		return 0;
	}
	return dmf_opt_refuse(f, "option %s: unknown kind %d in the type's table",
			      opt->name, opt->kind);
}

static void dmf_free_parsed_ranges(const struct dm_filter_opt *opts, const unsigned long *seen,
				   unsigned int nopts, void *config)
{
	unsigned int i;

	for_each_set_bit(i, seen, nopts)
		if (opts[i].kind == DM_FILTER_OPT_RANGES)
			dm_filter_ranges_free(config + opts[i].offset);
}

int dm_filter_parse_options(struct dm_filter *f, unsigned int argc, char **argv,
			    const struct dm_filter_opt *opts, unsigned int nopts, void *config)
{
	DECLARE_BITMAP(seen, DMF_MAX_OPTS) = { 0 };
	DECLARE_BITMAP(parsed, DMF_MAX_OPTS) = { 0 };
	const char *type = f->type->name;
	unsigned int i, j;
	char *eq;
	int r;

	if (nopts > DMF_MAX_OPTS)
		return dmf_opt_refuse(f, "%s has more than %d options", type, DMF_MAX_OPTS);
	if (argc && !nopts)
		return dmf_opt_refuse(f, "%s takes no options", type);

	for (i = 0; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			r = dmf_opt_refuse(f, "option '%s' is not NAME=VALUE", argv[i]);
			goto bad;
		}
		for (j = 0; j < nopts; j++)
			if (strlen(opts[j].name) == eq - argv[i] &&
			    !strncmp(argv[i], opts[j].name, eq - argv[i]))
				break;
		if (j == nopts) {
			*eq = '\0';
			r = dmf_opt_refuse(f, "%s has no option '%s'", type, argv[i]);
			goto bad;
		}
		if (test_and_set_bit(j, seen)) {
			r = dmf_opt_refuse(f, "option %s given twice", opts[j].name);
			goto bad;
		}
		r = dmf_parse_value(f, &opts[j], eq + 1, config + opts[j].offset);
		if (r)
			goto bad;
		set_bit(j, parsed);
	}
	return 0;

bad:
	dmf_free_parsed_ranges(opts, parsed, nopts, config);
	return r;
}
EXPORT_SYMBOL_GPL(dm_filter_parse_options);

void dm_filter_ranges_free(struct dm_filter_ranges *ranges)
{
	kfree(ranges->r);
	ranges->r = NULL;
	ranges->count = 0;
}
EXPORT_SYMBOL_GPL(dm_filter_ranges_free);

bool dm_filter_ranges_meet(const struct dm_filter_ranges *ranges, u64 start, u64 len)
{
	unsigned int lo = 0, hi = ranges->count, mid;
	const struct dm_filter_range *r;

	if (!len)
		return false;
	/* the first range that ends after start; merged ranges end in start order too */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = &ranges->r[mid];
		if (r->start + r->len <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ranges->count && ranges->r[lo].start < start + len;
}
EXPORT_SYMBOL_GPL(dm_filter_ranges_meet);
