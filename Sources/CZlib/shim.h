#ifndef ECHO_CZLIB_SHIM_H
#define ECHO_CZLIB_SHIM_H
#include <zlib.h>
#endif
