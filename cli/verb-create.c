/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl create: a workload recorded and booked but not started
 * (POST /v1/workloads?start=false); `berthctl start NAME` starts it. The
 * document comes from run's flags or, like apply, from -f FILE. */
#include "cli/berthctl.h"
#include "cli/client.h"
#include "cli/run-args.h"
#include "lib/spec.h"

static const char create_help[] =
    "Usage: berthctl create [FLAGS] [--] COMMAND [ARG...]\n"
    "       berthctl create -f FILE\n"
    "\n"
    "Create a workload without starting it: berthd records it (durably, before it\n"
    "answers), books its resources with the scheduler and prepares it; its state is\n"
    "'created' until 'berthctl start NAME'. A berthd restart keeps it created. Prints\n"
    "the name. The flags are run's (berthctl run --help) but for --rm, -d and\n"
    "--dry-run; -f takes the document from a file instead, as apply does.\n"
    "\n"
    "Flags:\n"
    "  -f, --filename FILE    the document (YAML or JSON; '-' for stdin); no other\n"
    "                         workload flag and no COMMAND with it\n"
    "  --name NAME            workload name, a DNS label (default: run-XXXXXXXX)\n"
    "  --rootfs DIR           root filesystem directory (made absolute)\n"
    "  --image REF            image in berthd's store\n"
    "  --cpu, --memory, --pids, --env, --workdir, --network, -p/--publish, --restart,\n"
    "  --label, --vm, --vm-backend   as for run\n"
    "  --socket PATH          berthd socket\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit codes: 0 created; 1 invalid document or berthd error (e.g. the name exists,\n"
    "the node cannot admit it); 2 usage; 3 unreachable.\n"
    "\n"
    "Examples:\n"
    "  berthctl create --name web --memory 128Mi --rootfs /srv/web -- /bin/httpd -f\n"
    "  berthctl create -f web.yaml && berthctl start web\n"
    "  berthctl create --vm --name vm1 --rootfs /srv/busybox -- /bin/sh -c 'echo hi'\n";

int verb_create(Berthctl *ctx, int argc, char **argv)
{
        _cleanup_(client_freep) Client *c = NULL;
        _cleanup_(json_decrefp) json_t *file_doc = NULL;
        _cleanup_(spec_freep) Spec *spec = NULL;
        const json_t *doc;
        const char *name;
        RunOptions o = {};
        int r, exit_code;

        r = run_parse_args_as(ctx, argc, argv, create_help, true, &o);
        if (r == RUN_ARGS_HELP)
                return EXIT_OK;
        if (r > 0)
                return r;
        if (r < 0) {
                fprintf(stderr, "berthctl create: %s\n", strerror(-r));
                return EXIT_DAEMON_ERROR;
        }
        if (o.file) {
                exit_code = apply_read_document(o.file, &file_doc, &spec);
                if (exit_code != EXIT_OK) {
                        run_options_done(&o);
                        return exit_code;
                }
                doc = file_doc;
                name = spec->name;
        } else {
                doc = o.doc;
                name = o.name;
        }

        r = client_new(ctx->socket_path, &c);
        if (r >= 0)
                r = client_call(c, "POST", "/v1/workloads?start=false", doc, NULL);
        if (r >= 0)
                printf("%s\n", name);
        exit_code = r >= 0 ? EXIT_OK : client_exit_code(r);
        run_options_done(&o);
        return exit_code;
}
