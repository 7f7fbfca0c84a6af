/* SPDX-License-Identifier: Apache-2.0 */
/* The libvirt backend's pure parts and its event loop glue:
 * - drivers/vm/vm-libvirt-xml.c: the domain XML parses back, q35 with direct
 *   kernel boot, every user string escaped (a path holding markup stays a
 *   path), too long socket paths refused;
 * - drivers/vm/vm-libvirt.c: vm.json members for the per-VM embedded driver,
 *   a configured URI, URI escaping of the root, a root too long for QEMU's
 *   monitor socket refused naming spec.vm.backend;
 * - drivers/vm/vm-libvirt-event.c: libvirt's public virEvent* calls land on
 *   sd-event: a readable pipe dispatches its handle, timers fire and repeat,
 *   a change made from another thread wakes the loop, and free callbacks run
 *   later on the loop thread, never inside the remove call. */
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <pthread.h>

#include "drivers/vm/vm-backend.h"
#include "drivers/vm/vm-libvirt-event.h"
#include "drivers/vm/vm-libvirt-xml.h"
#include "lib/util.h"
#include "test-util.h"

static char *xpath_str(xmlDocPtr doc, const char *expr)
{
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr o;
        char *s;

        xmlXPathRegisterNs(ctx, (const xmlChar *)"b", (const xmlChar *)VM_LIBVIRT_XMLNS);
        o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
        s = o ? (char *)xmlXPathCastToString(o) : NULL;
        xmlXPathFreeObject(o);
        xmlXPathFreeContext(ctx);
        return s;
}

static bool xpath_is(xmlDocPtr doc, const char *expr, const char *want)
{
        char *s = xpath_str(doc, expr);
        bool ok = s && streq(s, want);

        if (!ok)
                fprintf(stderr, "xpath %s = \"%s\", want \"%s\"\n", expr, s ? s : "(null)", want);
        xmlFree(s);
        return ok;
}

static void test_xml(void)
{
        const char *evil = "/k/<devices><disk type='file'>&\"x\"</disk>";
        VmLibvirtDomain d = {.name = "web",
                             .accel = "tcg",
                             .vcpus = 2,
                             .memory_bytes = UINT64_C(512) << 20,
                             .kernel = evil,
                             .initrd = "/i",
                             .cmdline = "console=ttyS0 rdinit=/init",
                             .disk = "/r/workloads/web/disk.qcow2",
                             .channel_path = "/r/workloads/web/chan.sock",
                             .console_path = "/r/workloads/web/con.sock"};
        char *xml = NULL, longp[200];
        xmlDocPtr doc;

        CHECK_RC(vm_libvirt_domain_xml(&d, &xml));
        doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET) : NULL;
        CHECK(doc != NULL);
        if (doc) {
                CHECK(xpath_is(doc, "string(/domain/@type)", "qemu"));
                CHECK(xpath_is(doc, "string(/domain/name)", "berth-web"));
                CHECK(xpath_is(doc, "string(/domain/metadata/b:workload/@name)", "web"));
                CHECK(xpath_is(doc, "string(/domain/os/type/@machine)", "q35"));
                CHECK(xpath_is(doc, "string(/domain/os/kernel)", evil)); /* escaped, read back verbatim */
                CHECK(xpath_is(doc, "string(count(/domain/devices/disk))", "1"));
                CHECK(xpath_is(doc, "string(/domain/memory)", "512"));
                CHECK(xpath_is(doc, "string(/domain/vcpu)", "2"));
                CHECK(xpath_is(doc, "string(/domain/on_reboot)", "destroy"));
                CHECK(xpath_is(doc, "string(/domain/devices/channel/target/@name)", "berth.0"));
                CHECK(xpath_is(doc, "string(/domain/devices/channel/source/@path)",
                               "/r/workloads/web/chan.sock"));
                CHECK(xpath_is(doc, "string(/domain/devices/serial/source/@mode)", "bind"));
                CHECK(xpath_is(doc, "string(count(/domain/devices/interface))", "0"));
                CHECK(xpath_is(doc, "string(count(/domain/cpu))", "0"));
                xmlFreeDoc(doc);
        }
        free(xml);
        xml = NULL;

        d.accel = "kvm";
        d.tap = "bt0a580002";
        d.mac = "02:42:0a:58:00:02";
        CHECK_RC(vm_libvirt_domain_xml(&d, &xml));
        doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET) : NULL;
        CHECK(doc != NULL);
        if (doc) {
                CHECK(xpath_is(doc, "string(/domain/@type)", "kvm"));
                CHECK(xpath_is(doc, "string(/domain/cpu/@mode)", "host-passthrough"));
                CHECK(xpath_is(doc, "string(/domain/devices/interface/@type)", "ethernet"));
                CHECK(xpath_is(doc, "string(/domain/devices/interface/target/@dev)", "bt0a580002"));
                CHECK(xpath_is(doc, "string(/domain/devices/interface/target/@managed)", "no"));
                CHECK(xpath_is(doc, "string(/domain/devices/interface/mac/@address)", "02:42:0a:58:00:02"));
                xmlFreeDoc(doc);
        }
        free(xml);
        xml = NULL;

        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        longp[sizeof(longp) - 1] = 0;
        d.channel_path = longp;
        CHECK(vm_libvirt_domain_xml(&d, &xml) == -ENAMETOOLONG);
        d.channel_path = "/c";
        d.kernel = NULL;
        CHECK(vm_libvirt_domain_xml(&d, &xml) == -EINVAL);
        CHECK(xml == NULL);
}

static void test_configure(void)
{
        VmLaunch l = {.name = "web",
                      .accel = "tcg",
                      .vcpus = 1,
                      .memory_bytes = UINT64_C(256) << 20,
                      .kernel = "/k",
                      .initrd = "/i",
                      .tsc_khz = 2300000};
        VmBackendConfig bc = {.root_dir = "/var/lib/berth"};
        BerthError err = {};
        char longroot[120];
        json_t *j = json_object();
        const char *uri;

        CHECK(vm_backend_find(NULL) == &vm_backend_microvm);
        CHECK(vm_backend_find("microvm") == &vm_backend_microvm);
        CHECK(vm_backend_find("libvirt") == &vm_backend_libvirt);
        CHECK(vm_backend_find("xen") == NULL);

        CHECK_RC(vm_backend_libvirt.configure(&bc, &l, j, &err));
        uri = json_string_value(json_object_get(j, "libvirt_uri"));
        CHECK(uri && strncmp(uri, "qemu:///embed?root=/var/lib/berth/lv/", 37) == 0 &&
              strlen(uri) == 37 + 12);
        CHECK(streq_ptr(json_string_value(json_object_get(j, "backend")), "libvirt"));
        CHECK(streq_ptr(json_string_value(json_object_get(j, "domain")), "berth-web"));
        CHECK(json_is_true(json_object_get(j, "libvirt_owns_root")));
        CHECK(strstr(json_string_value(json_object_get(j, "domain_xml")), "tsc_early_khz=2300000") != NULL);
        CHECK(streq_ptr(json_string_value(json_object_get(j, "channel_path")),
                        "/var/lib/berth/workloads/web/chan.sock"));
        json_decref(j);

        /* a root with a space is percent-encoded in the URI */
        bc.root_dir = "/srv/my berth";
        j = json_object();
        CHECK_RC(vm_backend_libvirt.configure(&bc, &l, j, &err));
        uri = json_string_value(json_object_get(j, "libvirt_uri"));
        CHECK(uri && strncmp(uri, "qemu:///embed?root=/srv/my%20berth/lv/", 38) == 0);
        CHECK(strncmp(json_string_value(json_object_get(j, "libvirt_embed_root")), "/srv/my berth/lv/",
                      17) == 0);
        json_decref(j);

        /* an operator's libvirtd */
        bc = (VmBackendConfig){.root_dir = "/var/lib/berth", .libvirt_uri = "qemu:///system"};
        j = json_object();
        CHECK_RC(vm_backend_libvirt.configure(&bc, &l, j, &err));
        CHECK(streq_ptr(json_string_value(json_object_get(j, "libvirt_uri")), "qemu:///system"));
        CHECK(json_is_null(json_object_get(j, "libvirt_embed_root")));
        CHECK(streq_ptr(json_string_value(json_object_get(j, "libvirt_pid_dir")), "/run/libvirt/qemu"));
        CHECK(!json_is_true(json_object_get(j, "libvirt_owns_root")));
        json_decref(j);

        /* no room for QEMU's monitor socket under the embedded root */
        memset(longroot, 'r', sizeof(longroot) - 1);
        longroot[0] = '/';
        longroot[60] = 0;
        bc = (VmBackendConfig){.root_dir = longroot};
        j = json_object();
        CHECK(vm_backend_libvirt.configure(&bc, &l, j, &err) == -ENAMETOOLONG);
        CHECK(streq(err.field, "spec.vm.backend"));
        json_decref(j);
}

/* ---- event loop glue ---- */

static sd_event *ev;
static int handle_calls, timer_calls, frees, freed_in_remove;
static bool in_remove;
static int pfd[2];

static void count_free(void *opaque)
{
        frees++;
        if (in_remove)
                freed_in_remove++;
}

static void on_handle(int watch, int fd, int events, void *opaque)
{
        char b[16];

        handle_calls++;
        CHECK(events & VIR_EVENT_HANDLE_READABLE);
        (void)!read(fd, b, sizeof(b));
}

static void on_timer(int timer, void *opaque)
{
        if (++timer_calls == 3) {
                in_remove = true;
                CHECK(virEventRemoveTimeout(timer) == 0);
                in_remove = false;
        }
}

typedef struct Remote {
        int watch;
        int timer;
} Remote;

/* Another thread, as libvirt's driver threads do: re-enable the handle and
 * arm a one-shot timer that stops the loop. */
static bool stopped;

static void on_stop(int timer, void *opaque)
{
        virEventUpdateTimeout(timer, -1);
        stopped = true;
}

static void *remote(void *p)
{
        Remote *r = p;

        usleep(50 * 1000);
        virEventUpdateHandle(r->watch, VIR_EVENT_HANDLE_READABLE);
        (void)!write(pfd[1], "y", 1);
        r->timer = virEventAddTimeout(100, on_stop, NULL, count_free);
        return NULL;
}

static void test_events(void)
{
        Remote rm = {};
        pthread_t t;
        int watch, timer;

        CHECK_RC(sd_event_new(&ev));
        CHECK_RC(vm_libvirt_event_register(ev));
        CHECK(pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0);

        /* a readable pipe */
        watch = virEventAddHandle(pfd[0], VIR_EVENT_HANDLE_READABLE, on_handle, NULL, count_free);
        CHECK(watch > 0);
        (void)!write(pfd[1], "x", 1);
        CHECK_RC(sd_event_run(ev, USEC_PER_SEC));
        CHECK(handle_calls == 1);
        /* disabled: no dispatch while data waits */
        virEventUpdateHandle(watch, 0);
        (void)!write(pfd[1], "x", 1);
        CHECK(sd_event_run(ev, 100 * USEC_PER_MSEC) >= 0);
        CHECK(handle_calls == 1);

        /* a periodic timer that removes itself on its third call */
        timer = virEventAddTimeout(10, on_timer, NULL, count_free);
        CHECK(timer > 0);
        for (int i = 0; i < 50 && timer_calls < 3; i++)
                CHECK(sd_event_run(ev, USEC_PER_SEC) >= 0);
        CHECK(timer_calls == 3);

        /* changes from another thread wake the loop */
        rm.watch = watch;
        CHECK(pthread_create(&t, NULL, remote, &rm) == 0);
        for (int i = 0; i < 100 && !stopped; i++)
                CHECK(sd_event_run(ev, 100 * USEC_PER_MSEC) >= 0);
        pthread_join(t, NULL);
        CHECK(stopped);
        CHECK(handle_calls >= 2);

        in_remove = true;
        CHECK(virEventRemoveHandle(watch) == 0);
        CHECK(virEventRemoveTimeout(rm.timer) == 0);
        in_remove = false;
        CHECK(virEventRemoveHandle(watch) == -1); /* already gone */
        for (int i = 0; i < 5; i++)
                (void)sd_event_run(ev, 50 * USEC_PER_MSEC);
        CHECK(frees == 3);
        if (frees != 3)
                fprintf(stderr, "frees: %d\n", frees);
        CHECK(freed_in_remove == 0);
        CHECK(timer_calls == 3);
        safe_close(pfd[0]);
        safe_close(pfd[1]);
}

int main(void)
{
        test_xml();
        test_configure();
        test_events();
        return test_result("vm-libvirt");
}
