/* libFuzzer target: the schema validator on one event given as raw
 * MessagePack (checked structurally first, as the hub does). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_event(data, size);
    return 0;
}
