/* SPDX-License-Identifier: Apache-2.0 */
/* Crash points for fault injection. In a build configured with
 * -Dcrash_points=true, CRASH_POINT("create.after-insert") aborts the
 * process right there when the environment variable BERTH_CRASH_AT names
 * that point (exactly). In every other build the macro compiles to nothing,
 * so release binaries carry neither the strings nor the getenv().
 * The named points and what a restart must find are listed in
 * docs/OPERATIONS.md ("Crash safety").
 *
 * FAULT_POINT("create.commit") is a failure instead of a crash: it is -EIO
 * when BERTH_FAULT_AT names the point, else 0, for a path that a healthy
 * machine never takes (a commit that fails) to be tested. 0 in every other
 * build. */
#pragma once

#if BERTH_CRASH_POINTS
void crash_point_hit(const char *name);
int fault_point_hit(const char *name);
#define CRASH_POINT(name) crash_point_hit(name)
#define FAULT_POINT(name) fault_point_hit(name)
#else
#define CRASH_POINT(name) ((void)0)
#define FAULT_POINT(name) 0
#endif
