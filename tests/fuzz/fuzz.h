/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry point every target in tests/fuzz implements; the
 * replay main (fuzz-replay.c) calls it for each corpus file. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
