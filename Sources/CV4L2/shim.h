#ifndef CV4L2_SHIM_H
#define CV4L2_SHIM_H
// Video4Linux2 capture-device queries for `gateway devices`. The ioctl request numbers are
// function-like macros and ioctl() is variadic: neither imports into Swift, so both are wrapped.
#ifdef __linux__
#include <linux/videodev2.h>
#include <sys/ioctl.h>

static inline int cv4l2_ioctl(int fd, unsigned long request, void *argument) { return ioctl(fd, request, argument); }
static inline unsigned long cv4l2_querycap(void) { return VIDIOC_QUERYCAP; }
static inline unsigned long cv4l2_enum_fmt(void) { return VIDIOC_ENUM_FMT; }
static inline unsigned long cv4l2_enum_framesizes(void) { return VIDIOC_ENUM_FRAMESIZES; }
static inline unsigned long cv4l2_enum_frameintervals(void) { return VIDIOC_ENUM_FRAMEINTERVALS; }
#endif
#endif
