#ifndef CFILESYNC_H
#define CFILESYNC_H

/// syncfs(2): commits every cached write of the filesystem that holds `fd` (data and metadata). The archive
/// makes a batch of files durable with one call instead of one fsync per file. Swift's Glibc module does
/// not export syncfs (it needs _GNU_SOURCE). Returns 0, or -1 with errno set.
int framelog_syncfs(int fd);

#endif
