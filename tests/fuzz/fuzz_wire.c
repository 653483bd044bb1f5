/* libFuzzer target: the CSPH/1 request decoder, and the schema validator
 * on every event a decoded publish carries. Built by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request(data, size);
    return 0;
}
