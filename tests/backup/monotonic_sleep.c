/* Preloaded before libfaketime in the clock-step test.
 *
 * libfaketime 0.9.10 (Debian 12) breaks absolute CLOCK_MONOTONIC sleeps when it is told
 * not to fake the monotonic clock: it hands the kernel a negative time and the call fails
 * with EINVAL (libfaketime issue #426). Python 3.11's time.sleep, and so subprocess's
 * wait with a timeout, sleeps exactly that way. Sleeping is not what the test fakes, so
 * this passes every clock_nanosleep straight to the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request,
                    struct timespec *remain) {
    if (syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == -1) {
        return errno;
    }
    return 0;
}
