/* What the fuzz targets and the regression test run on one input: exactly
 * the hub's own path (structural check, decode, schema check). */
#ifndef CSPH_FUZZ_COMMON_H
#define CSPH_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Decode data as a request; validate the events of a publish. */
void fuzz_request(const uint8_t *data, size_t size);
/* Validate data as one event. */
void fuzz_event(const uint8_t *data, size_t size);

#endif
