/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <time.h>

#include "drivers/shim/shim-reserve.h"
#include "lib/log.h"

void shim_exit_reserve(int dirfd)
{
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dirfd, SHIM_EXIT_RESERVE_FILE, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                log_warning_errno(errno, "Cannot create %s: %m", SHIM_EXIT_RESERVE_FILE);
                return;
        }
        if (fallocate(fd, 0, 0, SHIM_EXIT_RESERVE_BYTES) < 0) {
                log_warning_errno(errno, "Cannot reserve space for exit.json: %m");
                (void)unlinkat(dirfd, SHIM_EXIT_RESERVE_FILE, 0);
                return;
        }
        /* No fsync: the blocks are the filesystem's to give back from the
         * moment fallocate returns, and after a power loss there is no run
         * whose exit needs them. */
}

static bool is_disk_full(int r)
{
        return r == -ENOSPC || r == -EDQUOT;
}

int shim_exit_write(int dirfd, const DriverExit *e, bool durable)
{
        int r;

        r = driver_exit_write(dirfd, e, durable);
        for (unsigned i = 0; is_disk_full(r) && i <= SHIM_EXIT_RETRY_SEC; i++) {
                if (i == 0) {
                        /* Hand the reserved blocks back, then write again at once. */
                        if (unlinkat(dirfd, SHIM_EXIT_RESERVE_FILE, 0) >= 0) {
                                log_warning("Disk full: writing exit.json into the reserved space");
                                (void)syncfs(dirfd);
                        }
                } else {
                        if (i == 1)
                                log_warning("Disk full: retrying exit.json once a second for %ds",
                                            SHIM_EXIT_RETRY_SEC);
                        (void)nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
                }
                r = driver_exit_write(dirfd, e, durable);
        }
        return r;
}

int shim_exit_reserve_detach(int dirfd, char ret[static SHIM_EXIT_RESERVE_NAME_MAX])
{
        snprintf(ret, SHIM_EXIT_RESERVE_NAME_MAX, "%s.%d", SHIM_EXIT_RESERVE_FILE, (int)getpid());
        if (renameat(dirfd, SHIM_EXIT_RESERVE_FILE, dirfd, ret) < 0) {
                ret[0] = '\0';
                return -errno;
        }
        return 0;
}

void shim_exit_reserve_release(int dirfd, const char *name)
{
        if (name && name[0])
                (void)unlinkat(dirfd, name, 0);
}
