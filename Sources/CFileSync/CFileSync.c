#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "CFileSync.h"

int framelog_syncfs(int fd) { return syncfs(fd); }

/// Direct I/O wants the buffer, the length and the file offset aligned to the device's logical block;
/// 4096 covers 512-byte and 4 KiB devices.
enum { framelog_direct_alignment = 4096 };

static int write_all(int fd, const char *bytes, size_t count) {
    size_t written = 0;
    while (written < count) {
        ssize_t n = write(fd, bytes + written, count - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            return -1;
        }
        written += (size_t)n;
    }
    return 0;
}

/// The aligned copy of what a thread writes directly: kept and grown, not allocated per file, so that each
/// file does not cost fresh pages to fault in and zero (one per writing thread, as large as its largest file,
/// freed when the thread exits: dispatch's worker threads come and go).
struct direct_room {
    void *bytes;
    size_t capacity;
};
static pthread_key_t direct_key;
static pthread_once_t direct_once = PTHREAD_ONCE_INIT;

static void free_room(void *room) {
    free(((struct direct_room *)room)->bytes);
    free(room);
}

static void make_key(void) { pthread_key_create(&direct_key, free_room); }

static void *aligned_room(size_t size) {
    pthread_once(&direct_once, make_key);
    struct direct_room *room = pthread_getspecific(direct_key);
    if (room == NULL) {
        room = calloc(1, sizeof *room);
        if (room == NULL || pthread_setspecific(direct_key, room) != 0) {
            free(room);
            return NULL;
        }
    }
    if (size <= room->capacity) return room->bytes;
    void *grown = NULL;
    if (posix_memalign(&grown, framelog_direct_alignment, size) != 0) return NULL;
    free(room->bytes);
    room->bytes = grown;
    room->capacity = size;
    return grown;
}

int framelog_write_file(const char *path, const void *bytes, size_t count, int direct) {
    int fd = -1;
    if (direct && count > 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
        // A filesystem without direct I/O (tmpfs) refuses the flag: write through the page cache instead.
        if (fd < 0 && errno != EINVAL) return -1;
    }
    if (fd >= 0) {
        size_t padded = (count + framelog_direct_alignment - 1) / framelog_direct_alignment * framelog_direct_alignment;
        void *aligned = aligned_room(padded);
        if (aligned == NULL) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        memcpy(aligned, bytes, count);
        memset((char *)aligned + count, 0, padded - count);
        int failed = write_all(fd, aligned, padded);
        // The padding goes: the file ends where the bytes do.
        if (!failed) failed = ftruncate(fd, (off_t)count);
        int saved = errno;
        if (failed) {
            close(fd);
            errno = saved;
            return -1;
        }
        return close(fd);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (write_all(fd, bytes, count) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}
