/* SPDX-License-Identifier: Apache-2.0 */
/* libvirt domain XML (vm-libvirt-xml.h). */
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/xmlwriter.h>

#include "drivers/vm/vm-libvirt-xml.h"
#include "drivers/vm/vm-proto.h"
#include "lib/util.h"

static void writer_freep(xmlTextWriterPtr *w)
{
        if (*w)
                xmlFreeTextWriter(*w);
}

static void buffer_freep(xmlBufferPtr *b)
{
        if (*b)
                xmlBufferFree(*b);
}

#define X(s) ((const xmlChar *)(s))

/* Each helper returns < 0 on a libxml2 error, like xmlTextWriter* do. */
static int start(xmlTextWriterPtr w, const char *el)
{
        return xmlTextWriterStartElement(w, X(el));
}

static int end(xmlTextWriterPtr w)
{
        return xmlTextWriterEndElement(w);
}

static int attr(xmlTextWriterPtr w, const char *k, const char *v)
{
        return xmlTextWriterWriteAttribute(w, X(k), X(v));
}

static int text_el(xmlTextWriterPtr w, const char *el, const char *v)
{
        return xmlTextWriterWriteElement(w, X(el), X(v));
}

/* <el a=v a=v/> from a NULL-terminated list of names and values. */
static int empty_el(xmlTextWriterPtr w, const char *el, const char *const *kv)
{
        int r = start(w, el);
        for (size_t i = 0; r >= 0 && kv && kv[i]; i += 2)
                r = attr(w, kv[i], kv[i + 1]);
        return r < 0 ? r : end(w);
}

static int unix_chardev(xmlTextWriterPtr w, const char *el, const char *path, const char *const *target)
{
        int r = start(w, el);
        if (r >= 0)
                r = attr(w, "type", "unix");
        if (r >= 0)
                r = empty_el(w, "source", (const char *const[]){"mode", "bind", "path", path, NULL});
        if (r >= 0)
                r = empty_el(w, "target", target);
        return r < 0 ? r : end(w);
}

int vm_libvirt_domain_xml(const VmLibvirtDomain *d, char **ret)
{
        _cleanup_(buffer_freep) xmlBufferPtr buf = NULL;
        _cleanup_(writer_freep) xmlTextWriterPtr w = NULL;
        char name[80], mem[32], vcpus[32];
        int r;

        if (!d || !d->name || !d->accel || !d->kernel || !d->initrd || !d->cmdline || !d->disk ||
            !d->channel_path || !d->console_path || d->vcpus < 1 || d->memory_bytes < (UINT64_C(1) << 20))
                return -EINVAL;
        if (strlen(d->channel_path) > VM_LIBVIRT_SOCKET_PATH_MAX ||
            strlen(d->console_path) > VM_LIBVIRT_SOCKET_PATH_MAX)
                return -ENAMETOOLONG;
        snprintf(name, sizeof(name), VM_LIBVIRT_DOMAIN_PREFIX "%s", d->name);
        snprintf(mem, sizeof(mem), "%" PRIu64, d->memory_bytes >> 20);
        snprintf(vcpus, sizeof(vcpus), "%" PRIu64, d->vcpus);

        buf = xmlBufferCreate();
        if (!buf)
                return -ENOMEM;
        w = xmlNewTextWriterMemory(buf, 0);
        if (!w)
                return -ENOMEM;
        (void)xmlTextWriterSetIndent(w, 1);
        (void)xmlTextWriterSetIndentString(w, X("  "));
        r = start(w, "domain");
        if (r >= 0)
                r = attr(w, "type", streq(d->accel, "kvm") ? "kvm" : "qemu");
        if (r >= 0)
                r = text_el(w, "name", name);
        /* who made it, for operators looking at `virsh dumpxml` */
        if (r >= 0)
                r = start(w, "metadata");
        if (r >= 0)
                r = xmlTextWriterStartElementNS(w, X("berth"), X("workload"), X(VM_LIBVIRT_XMLNS));
        if (r >= 0)
                r = attr(w, "name", d->name);
        if (r >= 0)
                r = end(w);
        if (r >= 0)
                r = end(w);
        if (r >= 0)
                r = start(w, "memory");
        if (r >= 0)
                r = attr(w, "unit", "MiB");
        if (r >= 0)
                r = xmlTextWriterWriteString(w, X(mem));
        if (r >= 0)
                r = end(w);
        if (r >= 0)
                r = text_el(w, "vcpu", vcpus);

        /* q35 with direct kernel boot: libvirt does not take microvm */
        if (r >= 0)
                r = start(w, "os");
        if (r >= 0)
                r = start(w, "type");
        if (r >= 0)
                r = attr(w, "arch", "x86_64");
        if (r >= 0)
                r = attr(w, "machine", "q35");
        if (r >= 0)
                r = xmlTextWriterWriteString(w, X("hvm"));
        if (r >= 0)
                r = end(w);
        if (r >= 0)
                r = text_el(w, "kernel", d->kernel);
        if (r >= 0)
                r = text_el(w, "initrd", d->initrd);
        if (r >= 0)
                r = text_el(w, "cmdline", d->cmdline);
        if (r >= 0)
                r = end(w);
        if (r >= 0)
                r = start(w, "features");
        if (r >= 0)
                r = empty_el(w, "acpi", NULL);
        if (r >= 0)
                r = end(w);
        if (r >= 0 && streq(d->accel, "kvm"))
                r = empty_el(w, "cpu", (const char *const[]){"mode", "host-passthrough", NULL});
        /* the guest powers off after EXIT; never reboot (QEMU's -no-reboot) */
        if (r >= 0)
                r = text_el(w, "on_poweroff", "destroy");
        if (r >= 0)
                r = text_el(w, "on_reboot", "destroy");
        if (r >= 0)
                r = text_el(w, "on_crash", "destroy");

        if (r >= 0)
                r = start(w, "devices");
        if (r >= 0)
                r = start(w, "disk");
        if (r >= 0)
                r = attr(w, "type", "file");
        if (r >= 0)
                r = attr(w, "device", "disk");
        if (r >= 0)
                r = empty_el(w, "driver", (const char *const[]){"name", "qemu", "type", "qcow2", NULL});
        if (r >= 0)
                r = empty_el(w, "source", (const char *const[]){"file", d->disk, NULL});
        if (r >= 0)
                r = empty_el(w, "target", (const char *const[]){"dev", "vda", "bus", "virtio", NULL});
        if (r >= 0)
                r = end(w);
        if (r >= 0)
                r = unix_chardev(w, "serial", d->console_path, (const char *const[]){"port", "0", NULL});
        if (r >= 0)
                r = unix_chardev(w, "channel", d->channel_path,
                                 (const char *const[]){"type", "virtio", "name", VM_PORT_NAME, NULL});
        if (r >= 0 && d->tap) {
                r = start(w, "interface");
                if (r >= 0)
                        r = attr(w, "type", "ethernet");
                if (r >= 0)
                        r = empty_el(w, "target",
                                     (const char *const[]){"dev", d->tap, "managed", "no", NULL});
                if (r >= 0)
                        r = empty_el(w, "model", (const char *const[]){"type", "virtio", NULL});
                if (r >= 0 && d->mac)
                        r = empty_el(w, "mac", (const char *const[]){"address", d->mac, NULL});
                if (r >= 0)
                        r = end(w);
        }
        /* nothing the guest does not use */
        if (r >= 0)
                r = empty_el(w, "controller", (const char *const[]){"type", "usb", "model", "none", NULL});
        if (r >= 0)
                r = empty_el(w, "memballoon", (const char *const[]){"model", "none", NULL});
        if (r >= 0)
                r = end(w); /* devices */
        if (r >= 0)
                r = end(w); /* domain */
        if (r >= 0)
                r = xmlTextWriterEndDocument(w);
        if (r < 0)
                return -ENOMEM;
        xmlFreeTextWriter(TAKE_PTR(w)); /* flushes into buf */
        *ret = strdup((const char *)xmlBufferContent(buf));
        return *ret ? 0 : -ENOMEM;
}

static void doc_freep(xmlDocPtr *d)
{
        if (*d)
                xmlFreeDoc(*d);
}

int vm_libvirt_xml_add_tap(const char *xml, const char *tap, const char *mac, char **ret)
{
        _cleanup_(doc_freep) xmlDocPtr doc = NULL;
        xmlNodePtr root, dev = NULL, itf, n;
        xmlChar *out = NULL;
        int len = 0;

        if (!xml || !tap || !tap[0])
                return -EINVAL;
        doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
        root = doc ? xmlDocGetRootElement(doc) : NULL;
        if (!root || !xmlStrEqual(root->name, X("domain")))
                return -EINVAL;
        for (n = root->children; n; n = n->next)
                if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, X("devices")))
                        dev = n;
        if (!dev)
                return -EINVAL;
        /* xmlNewProp escapes attribute values */
        itf = xmlNewChild(dev, NULL, X("interface"), NULL);
        if (!itf || !xmlNewProp(itf, X("type"), X("ethernet")))
                return -ENOMEM;
        n = xmlNewChild(itf, NULL, X("target"), NULL);
        if (!n || !xmlNewProp(n, X("dev"), X(tap)) || !xmlNewProp(n, X("managed"), X("no")))
                return -ENOMEM;
        n = xmlNewChild(itf, NULL, X("model"), NULL);
        if (!n || !xmlNewProp(n, X("type"), X("virtio")))
                return -ENOMEM;
        if (mac) {
                n = xmlNewChild(itf, NULL, X("mac"), NULL);
                if (!n || !xmlNewProp(n, X("address"), X(mac)))
                        return -ENOMEM;
        }
        xmlDocDumpFormatMemory(doc, &out, &len, 1);
        if (!out)
                return -ENOMEM;
        *ret = strdup((const char *)out);
        xmlFree(out);
        return *ret ? 0 : -ENOMEM;
}
