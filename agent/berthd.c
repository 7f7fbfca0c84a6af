/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder so the tree configures while the real program is written. */
#include <stdio.h>
int main(void)
{
        fprintf(stderr, "not built yet\n");
        return 1;
}
