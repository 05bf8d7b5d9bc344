/* The built-in demo guest (tests/guests/demo.c), linked into pagoda by the build. */
#ifndef PAGODA_VMM_DEMO_GUEST_H
#define PAGODA_VMM_DEMO_GUEST_H

#include <stddef.h>
#include <stdint.h>

extern const uint8_t demo_guest_image[];
extern const size_t demo_guest_image_size;

#endif
