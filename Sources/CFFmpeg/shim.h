#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H
// FFmpeg's function-like macros do not import into Swift; each is wrapped here.
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/version_major.h>
#include <dlfcn.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/dict.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/md5.h>
#ifdef __GLIBC__
#include <malloc.h>
/// glibc's malloc_trim (in <malloc.h>, which Swift's Glibc module does not bring in):
/// `MemoryTrimmer` gives the heap's free pages back with it. 1 when memory was released.
static inline int cgateway_malloc_trim(void) { return malloc_trim(0); }
#else
static inline int cgateway_malloc_trim(void) { return 0; }
#endif

static inline int cffmpeg_averror(int e) { return AVERROR(e); }
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_averror_exit(void) { return AVERROR_EXIT; }
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cffmpeg_averror_http_unauthorized(void) { return AVERROR_HTTP_UNAUTHORIZED; }
static inline int cffmpeg_averror_http_forbidden(void) { return AVERROR_HTTP_FORBIDDEN; }
static inline int cffmpeg_averror_http_not_found(void) { return AVERROR_HTTP_NOT_FOUND; }
static inline int64_t cffmpeg_nopts(void) { return AV_NOPTS_VALUE; }
static inline AVRational cffmpeg_time_base_q(void) { return (AVRational){1, AV_TIME_BASE}; }
static inline const char *cffmpeg_err2str(int e, char *buf, size_t size) {
    return av_make_error_string(buf, size, e);
}
// Two things libavformat tells only its log, with the input's AVFormatContext as the log
// context: RTP packets it gave up waiting for ("RTP: missed N packets") and an RTSP redirect
// ("Status N: Redirecting to URL", logged after `s->url` was set to the target and before the
// target is connected). This log callback hands each count to `loss`, and each redirect to
// `redirect`, which may replace the URL about to be connected (`*replacement`, allocated with
// av_strdup, or NULL to leave it). Every other line goes to libavutil's own callback. Install it
// once, from one module (the handlers live in this header's static storage).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef void (*cffmpeg_loss_handler)(void *context, int missed);
typedef char *(*cffmpeg_redirect_handler)(void *context, const char *target);
typedef struct { cffmpeg_loss_handler loss; cffmpeg_redirect_handler redirect; } cffmpeg_log_handlers;
static inline cffmpeg_log_handlers *cffmpeg_log_slot(void) {
    static cffmpeg_log_handlers handlers;
    return &handlers;
}
static void cffmpeg_log(void *context, int level, const char *format, va_list arguments) {
    static const char missed[] = "RTP: missed ";
    static const char redirecting[] = "Status %d: Redirecting to ";
    cffmpeg_log_handlers handlers = *cffmpeg_log_slot();
    if (level <= AV_LOG_WARNING && format && strncmp(format, missed, sizeof missed - 1) == 0) {
        char line[64];
        vsnprintf(line, sizeof line, format, arguments);
        if (handlers.loss) handlers.loss(context, atoi(line + sizeof missed - 1));
        return;
    }
    if (context && format && strncmp(format, redirecting, sizeof redirecting - 1) == 0 && handlers.redirect) {
        AVFormatContext *input = (AVFormatContext *)context;
        char *replacement = handlers.redirect(context, input->url ? input->url : "");
        if (replacement) {
            av_free(input->url);
            input->url = replacement;
        }
        return;
    }
    av_log_default_callback(context, level, format, arguments);
}
static inline void cffmpeg_install_log(cffmpeg_loss_handler loss, cffmpeg_redirect_handler redirect) {
    cffmpeg_log_slot()->loss = loss;
    cffmpeg_log_slot()->redirect = redirect;
    av_log_set_callback(cffmpeg_log);
}
// libavdevice is not linked: it pulls in libavfilter and some 80 more libraries (speech
// synthesis voices, SVG, Vulkan…) that made up a fifth of an idle gateway's memory, and only
// capture devices (`type: "usb"`) need it. The first lookup of an input format libavformat does
// not know loads it here and registers its devices. Returns 0, or -1 with dlerror()'s text in
// `message` when the library is missing.
static inline int cffmpeg_load_devices(char *message, size_t size) {
#if defined(__APPLE__)
    const char *name = "libavdevice." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR) ".dylib";
#else
    const char *name = "libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR);
#endif
    void *library = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    void (*register_all)(void) = library ? (void (*)(void))dlsym(library, "avdevice_register_all") : NULL;
    if (!register_all) {
        const char *reason = dlerror();
        snprintf(message, size, "%s: %s", name, reason ? reason : "avdevice_register_all not found");
        return -1;
    }
    register_all();
    return 0;
}
#endif
