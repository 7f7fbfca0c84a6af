/* SPDX-License-Identifier: Apache-2.0 */
/* berthctl: the operator CLI. Global flags, then one verb from the table;
 * each verb lives in cli/verb-*.c. */
#include "cli/berthctl.h"

static const Verb verbs[] = {
    {"apply", "create a workload from a YAML or JSON file", verb_apply},
    {"run", "create and start a workload from flags", verb_run},
    {"create", "create a workload without starting it (flags or -f FILE)", verb_create},
    {"ls", "list workloads", verb_ls},
    {"inspect", "show one workload", verb_inspect},
    {"logs", "print a workload's output", verb_logs},
    {"wait", "wait for a workload to exit; exit with its code", verb_wait},
    {"stop", "stop a workload (SIGTERM, then SIGKILL)", verb_stop},
    {"start", "start a created or exited workload", verb_start},
    {"kill", "send a signal to a workload", verb_kill},
    {"rm", "remove workloads", verb_rm},
    {"events", "print events", verb_events},
    {"node", "summarise the node", verb_node},
    {"pause", "freeze a running workload", verb_pause},
    {"resume", "thaw a paused workload", verb_resume},
    {"update", "change a workload's resources, live", verb_update},
    {"exec", "run a command inside a running workload", verb_exec},
    {"image", "import, pull, list, inspect and remove images", verb_image},
    {"commit", "store a workload's changes as a new image", verb_commit},
    {"system", "store usage (system df)", verb_system},
    {"vm", "snapshot, restore and clone microVMs", verb_vm},
};

static void help(void)
{
        printf("Usage: berthctl [--socket PATH] VERB [FLAGS] [ARGS]\n"
               "\n"
               "Operate berthd, the per-host workload agent.\n"
               "\n"
               "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-9s %s\n", verbs[i].name, verbs[i].summary);
        printf("\n"
               "Global flags:\n"
               "  --socket PATH   berthd API socket (default $BERTH_SOCKET, else %s)\n"
               "  -h, --help      show this help\n"
               "  --version       show the version\n"
               "\n"
               "Exit codes: 0 ok; 1 berthd returned an error; 2 usage error; 3 berthd unreachable;\n"
               "wait and foreground run exit with the workload's exit code (run: 125 if it could\n"
               "not be created).\n"
               "\n"
               "Run 'berthctl VERB --help' for a verb's flags and examples.\n",
               BERTH_SOCKET_DEFAULT);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"socket", required_argument, NULL, 'S'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {},
        };
        Berthctl ctx = {};
        const char *env;
        int c;

        env = getenv("BERTH_SOCKET");
        ctx.socket_path = env && env[0] ? env : BERTH_SOCKET_DEFAULT;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'S':
                        ctx.socket_path = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("berthctl %s\n", BERTH_VERSION);
                        return EXIT_OK;
                default:
                        return usage_getopt_error(&ctx, c, argv);
                }
        if (optind >= argc)
                return usage_error(&ctx, "missing VERB");

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name)) {
                        ctx.verb = verbs[i].name;
                        /* The verb sees its own argv, argv[0] being its name. */
                        return verbs[i].run(&ctx, argc - optind, argv + optind);
                }
        if (streq(argv[optind], "help")) {
                help();
                return EXIT_OK;
        }
        return usage_error(&ctx, "unknown verb \"%s\"", argv[optind]);
}
