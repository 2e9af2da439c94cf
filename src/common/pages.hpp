// Backing memory before it is needed, so that a page fault does not land somewhere costly.
#pragma once

#include <cstddef>

namespace drust {

// Backs the whole pages inside [address, address + length) for writing, as a first write to each
// would (madvise MADV_POPULATE_WRITE); the partial pages at either end are left alone. Returns
// false when the kernel cannot (before Linux 5.14), which changes nothing: a later first touch
// faults the pages in itself.
bool back_pages(void* address, ::std::size_t length);

}  // namespace drust
