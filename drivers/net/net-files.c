/* SPDX-License-Identifier: Apache-2.0 */
/* /etc/hosts and /etc/resolv.conf for a bridged workload. They are written
 * into the workload directory (never into spec.rootfs, which several
 * workloads may share) and bind-mounted over the rootfs' own files inside
 * the container's mount namespace, the targets resolved with
 * openat2(RESOLVE_IN_ROOT) so a symlink in the image cannot point the mount
 * outside the rootfs. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "drivers/net/net.h"

#define RESOLV_CONF_MAX (64 * 1024)

char *net_render_hosts(const char *name, uint32_t addr)
{
        char a[INET_ADDRSTRLEN], *s = NULL;

        if (asprintf(&s,
                     "127.0.0.1\tlocalhost\n"
                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "%s\t%s\n",
                     net_addr_format(addr, a), name) < 0)
                return NULL;
        return s;
}

static bool nameserver_is_loopback(const char *v)
{
        return strncmp(v, "127.", 4) == 0 || streq(v, "::1") || strncmp(v, "0.", 2) == 0;
}

char *net_render_resolv_conf(const char *host_resolv)
{
        _cleanup_fclose_ FILE *f = NULL;
        char *buf = NULL, *copy, *line, *save = NULL;
        size_t size = 0;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputs("# written by berth from the host's resolv.conf (loopback nameservers dropped)\n", f);
        copy = strdup(host_resolv ? host_resolv : "");
        if (!copy) {
                fclose(TAKE_PTR(f));
                free(buf);
                return NULL;
        }
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char key[16], val[256];

                if (sscanf(line, " %15s %255s", key, val) != 2)
                        continue;
                if (streq(key, "nameserver") && !nameserver_is_loopback(val))
                        fprintf(f, "nameserver %s\n", val);
                else if (streq(key, "search") || streq(key, "domain") || streq(key, "options"))
                        fprintf(f, "%s\n", line + strspn(line, " \t"));
        }
        free(copy);
        if (fflush(f) != 0) {
                fclose(TAKE_PTR(f));
                free(buf);
                return NULL;
        }
        fclose(TAKE_PTR(f));
        return buf;
}

/* Regenerated before every start: whole, not durable (util.h). */
int net_file_replace_at(int dirfd, const char *name, const char *text)
{
        return write_file_replace_at(dirfd, name, text, strlen(text), 0644, WRITE_VOLATILE);
}

int net_write_files(int dirfd, const char *name, uint32_t addr)
{
        _cleanup_free_ char *hosts = NULL, *host_resolv = NULL, *resolv = NULL;
        size_t len;
        int r;

        hosts = net_render_hosts(name, addr);
        if (!hosts)
                return -ENOMEM;
        r = net_file_replace_at(dirfd, NET_HOSTS_FILE, hosts);
        if (r < 0)
                return r;
        r = read_file_at(AT_FDCWD, "/etc/resolv.conf", RESOLV_CONF_MAX, &host_resolv, &len);
        if (r < 0 && r != -ENOENT)
                return r;
        resolv = net_render_resolv_conf(host_resolv);
        if (!resolv)
                return -ENOMEM;
        return net_file_replace_at(dirfd, NET_RESOLV_FILE, resolv);
}

static int bind_one(int rootfd, int srcdir, const char *src, const char *target)
{
        struct open_how how = {
            .flags = O_PATH | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int sfd = -EBADF, tfd = -EBADF;
        char s[64], t[64];
        struct stat st;

        sfd = openat(srcdir, src, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        if (sfd < 0)
                return errno == ENOENT ? 0 : -errno;
        tfd = (int)syscall(SYS_openat2, rootfd, target, &how, sizeof(how));
        if (tfd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(tfd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return 0; /* not a file we can cover: leave the image's choice alone */
        snprintf(s, sizeof(s), "/proc/self/fd/%d", sfd);
        snprintf(t, sizeof(t), "/proc/self/fd/%d", tfd);
        if (mount(s, t, NULL, MS_BIND, NULL) < 0)
                return -errno;
        return 0;
}

int net_files_mount(int rootfd, const char *src_dir)
{
        _cleanup_close_ int dfd = -EBADF;
        int r;

        if (!src_dir)
                return -EINVAL;
        dfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = bind_one(rootfd, dfd, NET_HOSTS_FILE, "/etc/hosts");
        if (r < 0)
                return r;
        return bind_one(rootfd, dfd, NET_RESOLV_FILE, "/etc/resolv.conf");
}
