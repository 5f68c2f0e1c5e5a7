#ifndef CFILESYNC_H
#define CFILESYNC_H

#include <stddef.h>

/// syncfs(2): commits every cached write of the filesystem that holds `fd` (data and metadata). The archive
/// makes a batch of files durable with one call instead of one fsync per file. Swift's Glibc module does
/// not export syncfs (it needs _GNU_SOURCE). Returns 0, or -1 with errno set.
int framelog_syncfs(int fd);

/// Creates or truncates `path` (mode 0644) and writes `count` bytes to it. With `direct` the bytes go to the
/// device with O_DIRECT, past the page cache (copied to an aligned buffer, padded, then truncated to
/// `count`): on a filesystem without direct I/O it falls back to an ordinary write. Either way the data is
/// durable only after fsync or syncfs, which also makes the size durable. Returns 0, or -1 with errno set.
int framelog_write_file(const char *path, const void *bytes, size_t count, int direct);

#endif
