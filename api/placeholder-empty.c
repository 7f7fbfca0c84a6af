/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder: removed once the API sources exist. */
typedef int api_placeholder_empty;
