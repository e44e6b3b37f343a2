// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_ioctl.c - sends random and mutated DM_DEV_FILTER messages (kernel_tests.py builds and runs it in the VM).
 *
 * Usage: fuzz_ioctl SEED COUNT DEV   (DEV: the only real device it may name, as makedev())
 * Every field is taken near the limit the kernel checks: data_start, data_size, text_len,
 * op, the type name, the words of options, messages and queries; then bits are flipped
 * anywhere but the device number. Prints "sent N ok N" and a count per errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>
#include <linux/dm-filter.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BUF_MAX 20000	/* above the 4 KiB text and guard's 8 KiB answers, below a slow copy */

static uint64_t state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(int percent)
{
	return below(100) < (uint64_t)percent;
}

static uint64_t near(uint64_t limit)
{
	uint64_t v = limit + below(5) - 2;

	return v > limit + 2 ? 0 : v;	/* wrapped below zero */
}

static const char *const words[] = {
	"mode=read-only", "mode=deny", "mode=audit", "mode=", "mode", "mode=deny", "ranges=0+512",
	"ranges=512+1024,0+512", "ranges=1+512", "ranges=0+0", "ranges=", "ranges=,", "ranges=0+512,",
	"ranges=18446744073709551104+512", "ranges=4096+4096,0+8192", "error=eio", "error=target",
	"error=x", "=", "==", "events", "events 0", "events 1", "events 18446744073709551615",
	"events -1", "events 18446744073709551616", "reset", "bogus", "\\", "a\\ b", "\\\\", "\t",
	"skip-writes", "verbose=1",
};

static size_t make_text(char *t, size_t room)
{
	size_t n = 0, k, i;

	switch (below(6)) {
	case 0:		/* random bytes, maybe without a NUL */
		n = below(128);
		for (i = 0; i < n && i < room; i++)
			t[i] = rnd();
		return n < room ? n : room;
	case 1:		/* as long as the limit allows, or one byte more */
		n = near(DM_FILTER_TEXT_MAX);
		if (n > room)
			n = room;
		memset(t, 'w', n);
		if (n)
			t[n - 1] = '\0';
		return n;
	case 2:		/* many ranges */
		n = snprintf(t, room, "mode=deny ranges=");
		for (i = 0; n + 24 < room && n < DM_FILTER_TEXT_MAX - 24 && i < below(600); i++)
			n += snprintf(t + n, room - n, "%s%llu+512", i ? "," : "",
				      (unsigned long long)below(4096) * 512);
		return n + 1;
	default:	/* words */
		k = below(5);
		for (i = 0; i < k; i++) {
			const char *w = words[below(ARRAY_SIZE(words))];

			if (n + strlen(w) + 2 >= room)
				break;
			n += sprintf(t + n, "%s%s", i ? " " : "", w);
		}
		t[n] = '\0';
		return n + 1;
	}
}

int main(int argc, char **argv)
{
	static const char *const types[] = { "stat", "guard", "", "test-sleep", "nosuch" };
	static unsigned char buf[BUF_MAX + 512];
	static long errs[256];
	unsigned long long count, sent, ok = 0;
	uint64_t dev;
	int fd, i;

	if (argc != 4) {
		fprintf(stderr, "usage: fuzz_ioctl SEED COUNT DEV\n");
		return 2;
	}
	state = strtoull(argv[1], NULL, 0) * 2654435761ULL + 1;
	count = strtoull(argv[2], NULL, 0);
	dev = strtoull(argv[3], NULL, 0);
	fd = open("/dev/mapper/control", O_RDWR);
	if (fd < 0) {
		perror("/dev/mapper/control");
		return 1;
	}
	for (sent = 0; sent < count; sent++) {
		struct dm_ioctl *io = (struct dm_ioctl *)buf;
		struct dm_filter_msg msg;
		uint64_t size, data_start, data_size, text_len, n;
		char text[DM_FILTER_TEXT_MAX + 64];
		int flips;

		size = chance(50) ? 8192 : sizeof(*io) + below(BUF_MAX - sizeof(*io));
		data_start = sizeof(*io);
		if (chance(15)) {
			switch (below(5)) {
			case 0:
				data_start = below(sizeof(*io));
				break;
			case 1:
				data_start = near(sizeof(*io));
				break;
			case 2:
				data_start = near(size - sizeof(msg));
				break;
			case 3:
				data_start = near(size);
				break;
			default:
				data_start = (uint32_t)rnd();
				break;
			}
		}
		memset(buf, 0, size + 512);
		memset(&msg, 0, sizeof(msg));
		msg.magic = chance(97) ? DM_FILTER_MAGIC : (uint32_t)rnd();
		msg.abi_version = chance(97) ? DM_FILTER_ABI_VERSION : below(4);
		msg.op = chance(90) ? 1 + below(DM_FILTER_OP_COUNT - 1) :
			 chance(50) ? below(DM_FILTER_OP_COUNT + 3) : (uint32_t)rnd();
		msg.flags = chance(98) ? 0 : (uint32_t)rnd();
		msg.reserved = chance(98) ? 0 : (uint32_t)rnd();
		switch (below(12)) {
		case 0:		/* unterminated */
			memset(msg.type, 's', sizeof(msg.type));
			break;
		case 1:
			for (i = 0; i < 31; i++)
				msg.type[i] = rnd();
			break;
		default:
			strcpy(msg.type, types[below(ARRAY_SIZE(types))]);
			break;
		}
		switch (below(20)) {
		case 0:
			msg.dev = 0;
			break;
		case 1:		/* beyond dev_t */
			msg.dev = rnd() | 1ULL << 32;
			break;
		case 2:	/* no such major: rare, its open runs modprobe twice */
			msg.dev = chance(10) ? ((uint64_t)4000 & 0xfff) << 8 | 7 : dev;
			break;
		default:
			msg.dev = dev;
			break;
		}
		n = make_text(text, sizeof(text));
		text_len = n;
		if (chance(15)) {
			switch (below(4)) {
			case 0:
				text_len = near(n);
				break;
			case 1:
				text_len = near(DM_FILTER_TEXT_MAX);
				break;
			case 2:
				text_len = near(size - data_start - sizeof(msg));
				break;
			default:
				text_len = (uint32_t)rnd();
				break;
			}
		}
		msg.text_len = text_len;
		if (data_start + sizeof(msg) <= size) {
			memcpy(buf + data_start, &msg, sizeof(msg));
			if (n > size - data_start - sizeof(msg))
				n = size - data_start - sizeof(msg);
			memcpy(buf + data_start + sizeof(msg), text, n);
		}
		data_size = size;
		if (chance(15)) {	/* truncated: the header promises less than the message */
			switch (below(3)) {
			case 0:
				data_size = near(sizeof(*io));
				break;
			case 1:
				data_size = near(data_start + sizeof(msg));
				break;
			default:
				data_size = near(data_start + sizeof(msg) + msg.text_len);
				break;
			}
			if (data_size > size)
				data_size = size;	/* the kernel never writes past buf */
		}
		io->version[0] = DM_VERSION_MAJOR;
		io->data_size = data_size;
		io->data_start = data_start;
		if (chance(2))
			io->name[below(8)] = 'a';
		if (chance(2))
			io->version[0] = below(8);
		if (chance(3))
			io->flags = rnd();
		flips = chance(80) ? 0 : 1 + below(4);
		while (flips--) {
			uint64_t at = below(size);

			if (at >= data_start + 16 && at < data_start + 24)
				continue;	/* the device number: only the devices we were given */
			if (at >= offsetof(struct dm_ioctl, data_size) && at < offsetof(struct dm_ioctl, data_start))
				continue;	/* data_size: the kernel writes that much back */
			buf[at] ^= 1 << below(8);
		}
		if (ioctl(fd, DM_DEV_FILTER, buf) == 0)
			ok++;
		else
			errs[errno & 255]++;
	}
	printf("sent %llu ok %llu", sent, ok);
	for (i = 0; i < 256; i++)
		if (errs[i])
			printf(" %d=%ld", i, errs[i]);
	printf("\n");
	return 0;
}
