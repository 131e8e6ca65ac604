#ifndef ECHO_CHIREDIS_SHIM_H
#define ECHO_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

// redisReaderGetError is a macro in hiredis 0.14; Swift cannot call macros.
static inline const char *echo_redisReaderGetError(redisReader *r) {
    return r->errstr;
}
#endif
